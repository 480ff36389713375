"""Pausing a trader's account: alerts are then refused as `paused` and nothing is traded.

Set by /pause and /resume in Telegram and by the Settings switch. The inbox refuses alerts while
the flag is set, and the engine's claim refuses those accepted just before it was set; manual
closes (dashboard, REST, Telegram) still work, so a paused trader can always get flat.
"""

from __future__ import annotations

from datetime import datetime

from trading_app.db.engine import session_scope
from trading_app.db.models import TradingAccount
from trading_app.domain.clock import utcnow
from trading_app.services.accounts.account import load_account

__all__ = ["PAUSED_DETAIL", "paused_since", "set_paused"]

# the detail after the `paused` code in a refused alert's reason
PAUSED_DETAIL = "trading was paused; nothing was traded"


async def paused_since(user: str) -> datetime | None:
    """When the user paused trading, or None when trading is on (no account row: not paused)."""
    async with session_scope() as session:
        account = await session.get(TradingAccount, user)
    return account.paused_at if account is not None else None


async def set_paused(user: str, paused: bool) -> datetime | None:
    """Pause or resume trading for `user`; pausing twice keeps the first time.

    Returns:
        The pause time now in effect (None once resumed).
    """
    async with session_scope() as session:
        _, account = await load_account(session, user, for_update=True)
        if paused and account.paused_at is None:
            account.paused_at = utcnow()
        elif not paused:
            account.paused_at = None
        account.updated_at = utcnow()
        session.add(account)
        return account.paused_at
