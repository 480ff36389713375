"""Helpers for trading-engine tests: users, signals and a paper market on the fake indexer."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import col, select

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position, Signal, TradingAccount, User
from trading_app.domain.signals import parse_signal
from trading_app.services.security.secrets import seal


async def make_user(
    n: int, *, telegram_token: str | None = None, chat_id: str | None = None, **account: object
) -> str:
    """A user with a paper account (and Telegram when a token is given)."""
    address = "0x" + f"{n:040x}"
    async with session_scope() as session:
        user = User(
            address=address,
            webhook_uuid=str(uuid.uuid4()),
            webhook_secret_enc=seal(address, "webhook_secret_enc", "s3cret"),
        )
        if telegram_token:
            user.telegram_token_enc = seal(address, "telegram_token_enc", telegram_token)
            user.telegram_chat_id_enc = seal(address, "telegram_chat_id_enc", chat_id or "1")
        session.add(user)
        await session.flush()
        session.add(TradingAccount(address=address, **account))
    return address


async def make_signal(user: str, body: dict) -> int:
    """An ACCEPTED signal as the webhook stores it."""
    parsed = parse_signal(body, now=datetime.now(UTC), max_lag_seconds=None)
    async with session_scope() as session:
        row = Signal(
            user_address=user,
            raw_body=json.dumps(body),
            content_type="application/json",
            parsed=json.dumps(parsed.to_dict()),
            action=parsed.action.value,
            market=parsed.market,
            dedupe_key=f"id:{uuid.uuid4()}",
            status="ACCEPTED",
        )
        session.add(row)
    assert row.id is not None
    return row.id


async def signal(signal_id: int) -> Signal:
    async with session_scope() as session:
        row = await session.get(Signal, signal_id)
    assert row is not None
    return row


async def positions(user: str) -> list[Position]:
    async with session_scope() as session:
        return list(
            (
                await session.exec(
                    select(Position).where(Position.user_address == user).order_by(col(Position.id))
                )
            ).all()
        )


async def orders(user: str) -> list[Order]:
    async with session_scope() as session:
        return list(
            (
                await session.exec(select(Order).where(Order.user_address == user).order_by(col(Order.id)))
            ).all()
        )


LONG_BTC = {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl": "60000", "tp": "70000"}
D = Decimal
