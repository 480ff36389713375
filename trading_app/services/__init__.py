"""Orchestration: the only layer that combines the database, venues and notifiers.

Grouped in rooms, each named for what it does: `intake` (alerts in), `engine` (signals become
positions), `monitor` (positions kept in line with the venue), `accounts` (a trader's settings,
credentials and venue), `auth` (wallet sign-in, sessions), `notify` (Telegram and the live push),
`security` (encryption, rate limits) and `ops` (health).
"""
