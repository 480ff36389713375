"""Helpers for the process tests: traders made as sign-in makes them, polling, reading the books."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_account import Account
from sqlmodel import col, select

from tests.fakes.telegram import FakeTelegram
from trading_app.db.engine import session_scope
from trading_app.db.models import Order, PaperFill, PaperOrder, Position, Signal
from trading_app.services.account_settings import get_overview, reveal_webhook_secret
from trading_app.services.account_telegram import save_telegram
from trading_app.services.users import ensure_user

T = TypeVar("T")
JSON = {"content-type": "application/json"}
LONG_BTC = {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl": "60000", "tp": "70000"}
LONG_ETH = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2900", "tp": "3200"}


@dataclass(frozen=True)
class Trader:
    """A signed-up trader: the webhook URL and secret the settings page shows them."""

    address: str
    url: str
    secret: str
    chat_id: str | None = None

    @property
    def webhook_uuid(self) -> str:
        return self.url.rsplit("/", 1)[1]

    def body(self, alert: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """The alert with this trader's secret and a fresh alert_id (unless `extra` sets one)."""
        return {"secret": self.secret, **alert, "alert_id": uuid.uuid4().hex, **extra}

    def text(self, alert: dict[str, Any], **extra: Any) -> bytes:
        return json.dumps(self.body(alert, **extra)).encode()


async def new_trader(telegram: FakeTelegram | None = None) -> Trader:
    """A user created by `ensure_user` (as the first sign-in does), optionally with a Telegram bot."""
    address = Account.create().address
    async with session_scope() as session:
        await ensure_user(session, address)
    chat_id = None
    if telegram is not None:
        chat_id = str(secrets.randbelow(10**9) + 1)
        await save_telegram(address, telegram.add_bot(chats=[chat_id]), chat_id)
    overview = await get_overview(address)
    return Trader(address, overview.webhook_url, await reveal_webhook_secret(address), chat_id)


async def until(check: Callable[[], Awaitable[T]], within: float, what: str) -> T:
    """Poll `check` every 0.1 s until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


async def _all(model: type, address: str) -> list[Any]:
    async with session_scope() as session:
        query = select(model).where(model.user_address == address)  # type: ignore[attr-defined]
        return list((await session.exec(query.order_by(col(model.id)))).all())  # type: ignore[attr-defined]


async def signals_of(address: str) -> list[Signal]:
    return await _all(Signal, address)


async def positions_of(address: str) -> list[Position]:
    return await _all(Position, address)


async def orders_of(address: str) -> list[Order]:
    return await _all(Order, address)


async def paper_orders_of(address: str) -> list[PaperOrder]:
    return await _all(PaperOrder, address)


async def paper_fills_of(address: str) -> list[PaperFill]:
    return await _all(PaperFill, address)


async def finished(signal_id: int) -> Signal | None:
    """The signal once it left ACCEPTED/EXECUTING, else None."""
    async with session_scope() as session:
        row = await session.get(Signal, signal_id)
    return row if row is not None and row.status not in ("ACCEPTED", "EXECUTING") else None


async def books(address: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything execution writes for one trader, without the timestamps the monitor refreshes."""
    return {
        "signals": [(s.id, s.status, s.reason, s.position_id, s.attempts) for s in await signals_of(address)],
        "positions": [(p.id, p.signal_id, p.market, p.side, p.status, p.size, p.entry_price, p.sl_price,
                       p.tp_price) for p in await positions_of(address)],
        "orders": [(o.id, o.role, o.status, o.client_id, o.size, o.trigger_price, o.filled_size)
                   for o in await orders_of(address)],
        "paper_orders": [(o.id, o.client_id, o.status, o.reduce_only, o.filled)
                         for o in await paper_orders_of(address)],
        "paper_fills": [(f.id, f.client_id, f.size, f.price) for f in await paper_fills_of(address)],
    }
