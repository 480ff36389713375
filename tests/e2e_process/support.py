"""Helpers for the process tests: traders made as sign-in makes them, polling, reading the books."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from eth_account import Account
from sqlmodel import col, select

from tests.fakes.telegram import FakeTelegram
from trading_app.db.engine import session_scope
from trading_app.db.models import Order, PaperFill, PaperOrder, Position, Signal
from trading_app.services.accounts.account import get_overview, reveal_webhook_secret
from trading_app.services.accounts.telegram import save_telegram
from trading_app.services.accounts.users import ensure_user

T = TypeVar("T")
D = Decimal
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


async def post(client: httpx.AsyncClient, seen: list[httpx.Response], url: str, content: Any,
               headers: dict[str, str] | None = None) -> httpx.Response:
    """POST and remember the answer (the `answers` fixture checks that none was a 5xx)."""
    r = await client.post(url, content=content, headers=headers or JSON)
    seen.append(r)
    return r


async def executed_once(address: str, signal_id: int, alert: dict[str, str]) -> Position:
    """The signal opened exactly one protected position: one entry, one stop, one take-profit,
    and exactly those three orders reached the paper venue, whose entry filled once."""
    row = await finished(signal_id)
    assert row is not None and row.status == "EXECUTED", row and (row.status, row.reason)
    mine = [p for p in await positions_of(address) if p.signal_id == signal_id]
    assert len(mine) == 1, mine
    position = mine[0]
    assert row.position_id == position.id
    assert (position.status, position.side, position.market) == ("OPEN", "LONG", alert["market"])
    size, sl, tp = D(alert["size"]), D(alert["sl"]), D(alert["tp"])
    assert (position.size, position.sl_price, position.tp_price) == (size, sl, tp)
    orders = [o for o in await orders_of(address) if o.position_id == position.id]
    assert Counter(o.role for o in orders) == {"ENTRY": 1, "STOP_LOSS": 1, "TAKE_PROFIT": 1}
    roles = {o.role: o for o in orders}
    assert roles["ENTRY"].status == "FILLED" and roles["ENTRY"].filled_size == size
    assert roles["STOP_LOSS"].status == "UNTRIGGERED" and roles["STOP_LOSS"].trigger_price == sl
    assert roles["TAKE_PROFIT"].status == "UNTRIGGERED" and roles["TAKE_PROFIT"].trigger_price == tp
    assert roles["STOP_LOSS"].reduce_only and roles["TAKE_PROFIT"].reduce_only
    venue = {o.client_id: o for o in await paper_orders_of(address) if o.market == alert["market"]}
    assert set(venue) == {o.client_id for o in orders}
    assert [o.reduce_only for o in venue.values()].count(False) == 1
    fills = [f for f in await paper_fills_of(address) if f.market == alert["market"]]
    assert [(f.client_id, f.size) for f in fills] == [(roles["ENTRY"].client_id, size)]
    return position


# Tracebacks the app logs by design: (the line before it, how its exception line starts)
EXPECTED_TRACEBACKS = [
    # the monitor reports a price-source outage for every account it watches, every tick
    (re.compile(r"monitor: account \S+ failed: VenueUnavailable$"),
     "trading_app.venues.errors.VenueUnavailable"),
    # a clean stop cancels the monitor tick in flight, and APScheduler reports the cancelled job
    (re.compile(r'^Job "_tick .*" raised an exception$'), "asyncio.exceptions.CancelledError"),
]


def clean_log(process_log: str) -> None:
    """No traceback in the app's log other than the EXPECTED_TRACEBACKS."""
    lines = process_log.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("Traceback"):
            continue
        raised = next((x for x in lines[i + 1:] if x and not x.startswith(" ")), "")
        before = lines[i - 1] if i else ""
        if not any(p.search(before) and raised.startswith(kind) for p, kind in EXPECTED_TRACEBACKS):
            context = "\n".join(lines[max(i - 5, 0):i + 60])
            raise AssertionError(f"unexpected traceback in the app's log:\n{context}")
