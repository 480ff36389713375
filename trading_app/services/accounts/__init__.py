"""Accounts: a trader's own settings and credentials, and the venue they trade on.

`users` creates a trader at first sign-in; `account` holds where they trade, their webhook and
the settings page's overview; `credentials` seals their dYdX keys; `risk` their risk defaults;
`telegram` their bot token and chat id; `venues` builds the venue for a trader and network, the
only place dYdX credentials are opened.
"""
