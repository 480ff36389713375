"""Notify: telling traders what happened, on Telegram and on their open dashboards.

`messages` turns facts into Telegram texts (pure); `notifier` delivers them through the
trader's own bot without ever slowing or breaking trading; `telegram_api` is the Bot API
plumbing (one client, log redaction, error kinds); `telegram_setup` tests a bot and finds its
chat id; `events` is the one "this user's positions changed" hook the live dashboard listens to.
"""
