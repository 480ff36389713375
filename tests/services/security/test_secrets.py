"""Every stored secret is ciphertext, and rotation keeps every one of them readable."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import select

from tests.conftest import ROOT, TEST_MASTER_KEYS, reset_app_caches
from trading_app.db.engine import session_scope
from trading_app.db.models import User
from trading_app.services.security.crypto import get_keyring
from trading_app.services.security.secrets import ENCRYPTED_USER_COLUMNS, open_secret, rotate_all, seal

PLAIN = {
    "webhook_secret_enc": "whsec-{n}-Zx81",
    "dydx_credentials_enc": '{{"mnemonic": "word{n} abandon ability"}}',
    "telegram_token_enc": "12345{n}:AAAbbbCCCdddEEEfffGGGhhh",
    "telegram_chat_id_enc": "98765{n}",
}


async def _make_users(count: int) -> list[str]:
    addresses = [f"0x{n:040x}" for n in range(1, count + 1)]
    async with session_scope() as s:
        for n, address in enumerate(addresses):
            values = {c: seal(address, c, PLAIN[c].format(n=n)) for c in ENCRYPTED_USER_COLUMNS}
            s.add(User(address=address, webhook_uuid=f"uuid-{n}", **values))
    return addresses


def test_seal_refuses_unknown_columns() -> None:
    with pytest.raises(ValueError):
        seal("0x1", "webhook_uuid", "x")


async def test_rows_hold_only_ciphertext(db_url: str) -> None:
    await _make_users(3)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM users")) for v in row)
    engine.dispose()
    for n in range(3):
        for column in ENCRYPTED_USER_COLUMNS:
            assert PLAIN[column].format(n=n) not in dump


async def test_rotate_all_moves_every_secret_to_the_new_key(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = await _make_users(5)
    new_key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("APP_MASTER_KEYS", json.dumps({**TEST_MASTER_KEYS, "2": new_key}))
    monkeypatch.setenv("APP_PRIMARY_KEY_ID", "2")
    reset_app_caches()
    assert await rotate_all(batch_size=2) == 5 * len(ENCRYPTED_USER_COLUMNS)
    assert await rotate_all() == 0  # idempotent

    # the old key can now be retired: everything still opens
    monkeypatch.setenv("APP_MASTER_KEYS", json.dumps({"2": new_key}))
    reset_app_caches()
    ring = get_keyring()
    async with session_scope() as s:
        users = (await s.exec(select(User).order_by(User.address))).all()
    for n, (address, user) in enumerate(zip(addresses, users, strict=True)):
        for column in ENCRYPTED_USER_COLUMNS:
            token = getattr(user, column)
            assert ring.key_id_of(token) == 2
            assert open_secret(address, column, token) == PLAIN[column].format(n=n)


async def test_rotate_keys_command(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await _make_users(2)
    env = {
        **os.environ,
        "APP_MASTER_KEYS": json.dumps({**TEST_MASTER_KEYS, "9": base64.b64encode(os.urandom(32)).decode()}),
        "APP_PRIMARY_KEY_ID": "9",
        "DATABASE_URL": sqlite_url,
    }
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "trading_app.cli", "rotate-keys"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "re-encrypted 8 values" in out.stdout
    bad = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "trading_app.cli", "rotate-keys"],
        cwd=ROOT,
        env={**env, "APP_PRIMARY_KEY_ID": "4"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "APP_PRIMARY_KEY_ID=4" in bad.stderr
