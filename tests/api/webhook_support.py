"""Helpers for the webhook tests: users with real webhook secrets, the wrapped app, raw rows."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import httpx
from eth_account import Account
from sqlalchemy import create_engine, text, update

from trading_app.api.app import build_api
from trading_app.api.security import security_headers
from trading_app.db.engine import session_scope
from trading_app.db.models import User
from trading_app.services.accounts.users import ensure_user
from trading_app.services.security.secrets import open_secret

TV_IP = "52.89.214.238"


def wrapped_app():  # noqa: ANN201 - an ASGI callable
    """The API exactly as trading_app.py mounts it (with the security headers)."""
    return security_headers(False)(build_api())


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def client(app=None, ip: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app or wrapped_app(), client=(ip or random_ip(), 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


class Hook:
    """A user's webhook: where to post and the secret to put in the body."""

    def __init__(self, address: str, webhook_uuid: str, secret: str) -> None:
        self.address, self.uuid, self.secret = address, webhook_uuid, secret

    @property
    def path(self) -> str:
        return f"/api/webhooks/signal/{self.uuid}"

    def body(self, **fields: Any) -> dict[str, Any]:
        """A valid alert (unique alert_id unless given) with `fields` on top."""
        return {
            "secret": self.secret,
            "action": "buy",
            "market": "BTC-USD",
            "alert_id": uuid.uuid4().hex,
            **fields,
        }

    def text(self, **fields: Any) -> str:
        return json.dumps({k: v for k, v in self.body(**fields).items() if v is not None})


async def make_hook(allowlist: bool = False) -> Hook:
    """A user created exactly as the first sign-in does, with their decrypted webhook secret."""
    address = Account.create().address
    async with session_scope() as session:
        await ensure_user(session, address)
        if allowlist:
            await session.execute(
                update(User).where(User.address == address).values(webhook_ip_allowlist=True)
            )
    async with session_scope() as session:
        user = await session.get(User, address)
        assert user is not None
        return Hook(
            address, user.webhook_uuid, open_secret(address, "webhook_secret_enc", user.webhook_secret_enc)
        )


def signal_rows(db_url: str, address: str | None = None) -> list[dict[str, Any]]:
    """Every `signals` row (of `address`, if given), oldest first, read with a separate sync engine."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            where = " WHERE user_address = :a" if address else ""
            query = f"SELECT * FROM signals{where} ORDER BY id"  # noqa: S608 - constant text, bound values
            return [dict(r) for r in conn.execute(text(query), {"a": address}).mappings()]
    finally:
        engine.dispose()


def execute_sql(db_url: str, sql: str, **params: Any) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()
