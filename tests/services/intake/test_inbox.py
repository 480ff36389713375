"""`receive_alert`, the accept decision, on PostgreSQL and SQLite: the cases the HTTP tests do not reach."""

from __future__ import annotations

import base64
import json
import os

import pytest

from tests.api.webhook_support import Hook, execute_sql, make_hook, signal_rows
from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from trading_app.domain.clock import utcnow
from trading_app.services.intake.inbox import (
    InboxUnavailable,
    IncomingAlert,
    Receipt,
    Verdict,
    from_tradingview,
    receive_alert,
)
from trading_app.services.notify.notifier import get_notifier


async def send(hook: Hook, body: bytes | str, ip: str = "52.89.214.238") -> Receipt:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    receipt = await receive_alert(IncomingAlert(hook.uuid, raw, utcnow(), ip, "text/plain"))
    await get_notifier().drain(5)  # a refusal is told in the background: done before the test ends
    return receipt


async def test_an_unavailable_market_list_does_not_reject_the_alert(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = await make_hook()
    with FakeIndexer() as indexer:
        indexer.down(503)
        monkeypatch.setenv("PAPER_PRICE_SOURCE", indexer.url)
        reset_app_caches()
        receipt = await send(hook, hook.text(market="NOSUCHCOIN-USD"))
    assert receipt.outcome is Verdict.ACCEPTED  # the engine refuses it later, visibly
    assert [r["status"] for r in signal_rows(db_url)] == ["ACCEPTED"]


async def test_unstorable_characters_never_reach_the_database_as_errors(db_url: str) -> None:
    hook = await make_hook()
    # a lone surrogate in the alert id (legal JSON escape, not encodable as UTF-8)
    first = await send(hook, hook.text(alert_id="a\\ud800b").replace("\\\\", "\\"))
    assert first.outcome is Verdict.ACCEPTED, first
    again = await send(hook, hook.text(alert_id="a\\ud800b", comment="resend").replace("\\\\", "\\"))
    assert again == Receipt(Verdict.DUPLICATE, first.signal_id)
    # a raw NUL byte: not valid JSON, recorded with the character replaced
    nul = await send(hook, f'{{"secret": "{hook.secret}", "action": "buy\x00"}}')
    assert nul.outcome is Verdict.INVALID and nul.details[0].startswith(
        "body: not valid JSON (Invalid control"
    )
    # an escaped NUL is valid JSON and is stored as the escape it was sent as
    escaped = await send(hook, hook.text(comment="a\x00b"))
    assert escaped.outcome is Verdict.ACCEPTED
    rows = {r["id"]: r for r in signal_rows(db_url)}
    assert rows[first.signal_id]["dedupe_key"].startswith("idh:")
    assert "\x00" not in rows[nul.signal_id]["raw_body"] and "\ufffd" in rows[nul.signal_id]["raw_body"]
    assert "\\u0000" in rows[escaped.signal_id]["raw_body"]


async def test_a_bom_and_a_trailing_newline_do_not_make_a_new_alert(db_url: str) -> None:
    hook = await make_hook()
    text = hook.text(alert_id=None)
    first = await send(hook, text)
    assert await send(hook, "\ufeff" + text + "\r\n") == Receipt(Verdict.DUPLICATE, first.signal_id)


async def test_a_secret_that_cannot_be_opened_is_our_fault_and_stores_nothing(db_url: str) -> None:
    hook = await make_hook()
    execute_sql(db_url, "UPDATE users SET webhook_secret_enc = :junk", junk="AQEnotaciphertextatallnotatall")
    with pytest.raises(InboxUnavailable):
        await send(hook, hook.text())
    assert signal_rows(db_url) == []


async def test_a_master_key_taken_away_stops_a_webhook_that_worked_before(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the opened secret is remembered per ciphertext; a new keyring must not inherit that memory
    hook = await make_hook()
    assert (await send(hook, hook.text())).outcome is Verdict.ACCEPTED
    monkeypatch.setenv("APP_MASTER_KEYS", json.dumps({"7": base64.b64encode(os.urandom(32)).decode()}))
    monkeypatch.setenv("APP_PRIMARY_KEY_ID", "7")
    reset_app_caches()
    with pytest.raises(InboxUnavailable):
        await send(hook, hook.text(alert_id="second"))
    assert len(signal_rows(db_url)) == 1


async def test_a_wrong_secret_is_refused_while_the_right_one_is_remembered(db_url: str) -> None:
    hook = await make_hook()
    assert (await send(hook, hook.text())).outcome is Verdict.ACCEPTED
    right = hook.secret
    for wrong in (right[:-1], right + "x", "", right.upper()):
        hook.secret = wrong
        assert (await send(hook, hook.text(alert_id=f"w-{wrong}"))).outcome is Verdict.UNAUTHORIZED
    assert len(signal_rows(db_url)) == 1


async def test_rejections_carry_the_parsed_fields_when_there_are_any(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_PER_MINUTE_CAP", "0")
    reset_app_caches()
    hook = await make_hook()
    capped = await send(hook, hook.text(market="ETHUSDT.P", sl_pct="2"))
    assert capped.outcome is Verdict.CAPPED
    (row,) = signal_rows(db_url)
    assert (row["status"], row["market"], row["action"], row["dedupe_key"]) == (
        "REJECTED",
        "ETH-USD",
        "long",
        None,
    )
    assert json.loads(row["parsed"])["sl_pct"] == "2"


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("52.89.214.238", True),
        ("::ffff:34.212.75.30", True),
        ("52.89.214.239", False),
        ("2001:db8::1", False),
        ("junk", False),
    ],
)
def test_tradingview_addresses(ip: str, expected: bool) -> None:
    assert from_tradingview(ip) is expected
