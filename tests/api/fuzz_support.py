"""Two tenants with data for the fuzzers, and a fingerprint of each tenant's rows.

`seed_tenants()` makes A and B exactly as the app does (sign-up, a session, an executed alert: a
signal, an open paper position and its orders, Telegram settings). `Fingerprint` hashes every row
a tenant owns, table by table, read with a separate synchronous engine, so a fuzzer can say
"nobody's rows changed" after each case.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import create_engine, inspect, text, update

from tests.services.engine_support import LONG_BTC, make_signal, positions
from trading_app.db.engine import session_scope
from trading_app.db.models import User
from trading_app.services.accounts.users import ensure_user
from trading_app.services.auth.sessions import create_session
from trading_app.services.engine import executor
from trading_app.services.intake import dispatch
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.security.secrets import open_secret, seal

A_ADDRESS = "0x00000000000000000000000000000000000A11cE"
B_ADDRESS = "0x0000000000000000000000000000000000000B0b"

# Columns that move without anyone's write: a session's last use (at most once a minute).
VOLATILE = {("sessions", "last_seen_at")}
# Not owned by a tenant: sign-in challenges are issued for any address to anyone (and consumed by
# whoever signs them), the monitor's workers are the process's own.
UNOWNED = {"login_nonces", "monitor_workers", "alembic_version"}
OWNER_COLUMNS = ("user_address", "address")


@dataclass
class Tenant:
    """A signed-up trader with a session, a signal, an open position and Telegram settings."""

    address: str
    token: str
    webhook_uuid: str
    webhook_secret: str
    position_ids: list[int]
    signal_ids: list[int]


async def new_session(address: str) -> str:
    async with session_scope() as session:
        token, _ = await create_session(session, address)
    return token


async def _tenant(address: str) -> Tenant:
    async with session_scope() as session:
        await ensure_user(session, address)
        await session.execute(
            update(User)
            .where(User.address == address)
            .values(
                telegram_token_enc=seal(address, "telegram_token_enc", "123456:fuzz-token"),
                telegram_chat_id_enc=seal(address, "telegram_chat_id_enc", "42"),
            )
        )
    signal_id = await make_signal(address, LONG_BTC)
    await executor.execute_signal(signal_id)
    async with session_scope() as session:
        user = await session.get(User, address)
        assert user is not None
        hook = user.webhook_uuid
        secret = open_secret(address, "webhook_secret_enc", user.webhook_secret_enc)
    ids = [p.id for p in await positions(address) if p.id is not None]
    assert ids, "the seeded alert opened no position"
    return Tenant(address, await new_session(address), hook, secret, ids, [signal_id])


async def seed_tenants() -> tuple[Tenant, Tenant]:
    """Tenant A (the fuzzer's own session) and tenant B (whose ids the fuzzer uses)."""
    tenants = await _tenant(A_ADDRESS), await _tenant(B_ADDRESS)
    await settle()
    return tenants


async def settle() -> None:
    """Wait for the background work a change started (an accepted alert's execution, when an
    executor is registered, and the Telegram notices: both leave rows)."""
    await dispatch.drain(timeout=30)
    await get_notifier().drain(within=30)


class Fingerprint:
    """Per-owner hashes of every owned row (see module docstring); one engine for the whole test."""

    def __init__(self, db_url: str) -> None:
        self.engine = create_engine(db_url)
        tables = inspect(self.engine).get_table_names()
        self.tables: list[tuple[str, str, list[str]]] = []
        for table in sorted(set(tables) - UNOWNED):
            columns = [c["name"] for c in inspect(self.engine).get_columns(table)]
            owner = next((c for c in OWNER_COLUMNS if c in columns), None)
            assert owner is not None, f"table {table} has no owner column: add it to UNOWNED or here"
            kept = [c for c in columns if (table, c) not in VOLATILE]
            self.tables.append((table, owner, kept))
        assert {"users", "positions", "orders", "signals", "sessions", "trading_accounts"} <= {
            t for t, _, _ in self.tables
        }

    def of(self, address: str) -> dict[str, str]:
        """{table: sha256 of the owner's rows in a stable order}."""
        result = {}
        with self.engine.connect() as conn:
            for table, owner, columns in self.tables:
                names = ", ".join(f'"{c}"' for c in columns)
                query = f'SELECT {names} FROM "{table}" WHERE "{owner}" = :a ORDER BY {names}'  # noqa: S608
                rows = conn.execute(text(query), {"a": address}).all()
                result[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return result

    def everyone(self) -> dict[str, str]:
        """Every owned row of the database, whoever owns it."""
        result = {}
        with self.engine.connect() as conn:
            for table, _, columns in self.tables:
                names = ", ".join(f'"{c}"' for c in columns)
                rows = conn.execute(text(f'SELECT {names} FROM "{table}" ORDER BY {names}')).all()  # noqa: S608
                result[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return result

    def close(self) -> None:
        self.engine.dispose()
