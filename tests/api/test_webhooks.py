"""`POST /api/webhooks/signal/{uuid}` through the real app (httpx ASGITransport) on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from tests.api.webhook_support import (
    TV_IP,
    client,
    execute_sql,
    make_hook,
    random_ip,
    signal_rows,
    wrapped_app,
)
from tests.conftest import reset_app_caches
from trading_app.domain.clock import utcnow
from trading_app.services.accounts.account import rotate_webhook_secret
from trading_app.services.intake import dispatch
from trading_app.settings import get_settings


def use_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


async def test_json_text_plain_newline_and_bom_bodies_are_accepted_and_stored_masked(db_url: str) -> None:
    hook = await make_hook()
    bodies = [
        (hook.text(sl="60000", comment="json"), "application/json"),
        (hook.text(comment="plain") + "\n", "text/plain; charset=utf-8"),  # TradingView's usual form
        ("\ufeff" + hook.text(comment="bom") + "\r\n", "text/plain"),
        (hook.text(comment="no type"), None),
    ]
    ids = []
    async with client(ip=TV_IP) as c:
        for content, content_type in bodies:
            headers = {"content-type": content_type} if content_type else {}
            r = await c.post(hook.path, content=content.encode(), headers=headers)
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "accepted" and r.headers["cache-control"] == "no-store"
            assert r.headers["x-content-type-options"] == "nosniff"  # wrapped like the real app
            ids.append(r.json()["signal_id"])
    rows = signal_rows(db_url)
    assert [row["id"] for row in rows] == ids
    for row, (_content, content_type) in zip(rows, bodies, strict=True):
        assert row["status"] == "ACCEPTED" and row["reason"] is None
        assert row["user_address"] == hook.address and row["source_ip"] == TV_IP
        assert row["action"] == "long" and row["market"] == "BTC-USD"
        assert row["dedupe_key"].startswith("id:") and row["content_type"] == content_type
        assert hook.secret not in row["raw_body"] and '"secret": "***"' in row["raw_body"]
        assert json.loads(row["parsed"])["market"] == "BTC-USD" and "secret" not in row["parsed"]
    assert json.loads(rows[0]["parsed"])["sl"] == "60000"


async def test_unknown_uuid_and_wrong_secret_get_the_same_401_and_store_nothing(db_url: str) -> None:
    hook, other = await make_hook(), await make_hook()
    unknown = "/api/webhooks/signal/3f1c2a64-4a57-4b8e-9d7e-2a3f5c6d7e8f"
    attempts = [
        (unknown, hook.text()),  # a well-formed but unknown uuid
        ("/api/webhooks/signal/not-a-uuid", hook.text()),
        (hook.path, hook.text(secret="wrong")),
        (hook.path, hook.text(secret=other.secret)),  # another user's secret
        (hook.path, hook.text(secret=hook.secret[:-1])),
        (hook.path, hook.text(secret=None)),
        (hook.path, hook.text(secret=12345)),
        (hook.path, "BUY BTCUSDT"),  # text alert without a secret
        (hook.path, f"secret={hook.secret} BUY BTC"),  # not JSON-ish: the secret cannot be found
        (hook.path, json.dumps([hook.body(secret="wrong")])),
        (hook.path.upper().replace("/API/WEBHOOKS/SIGNAL", "/api/webhooks/signal") + "x", hook.text()),
    ]
    answers = set()
    async with client() as c:
        for path, content in attempts:
            r = await c.post(path, content=content)
            headers = {k: v for k, v in r.headers.items() if k != "date"}
            answers.add((r.status_code, r.content, tuple(sorted(headers.items()))))
    assert len(answers) == 1, [a[:2] for a in answers]
    status, content, _ = answers.pop()
    assert (status, json.loads(content)) == (401, {"error": "unauthorized"})
    assert signal_rows(db_url) == []


async def test_failed_authentication_is_rate_limited_per_ip_but_a_valid_alert_never(sqlite_url: str) -> None:
    hook = await make_hook()
    app = wrapped_app()
    async with client(app, ip=TV_IP) as c:
        for n in range(30):
            assert (await c.post(hook.path, content=hook.text(secret="guess"))).status_code == 401, n
        r = await c.post(hook.path, content=hook.text(secret="guess"))
        assert r.status_code == 429 and r.json() == {"error": "rate_limited"}
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # TradingView sends every trader's alerts from the same addresses: a real alert still goes through
        r = await c.post(hook.path, content=hook.text())
        assert r.status_code == 202, r.text
    async with client(app, ip=random_ip()) as c:  # another address has its own budget
        assert (await c.post(hook.path, content=hook.text(secret="guess"))).status_code == 401
    assert [row["status"] for row in signal_rows(sqlite_url)] == ["ACCEPTED"]


async def test_bodies_over_64_kib_get_413_declared_or_streamed(sqlite_url: str) -> None:
    hook = await make_hook()
    big = hook.text(comment="x" * (64 * 1024))

    async def chunks():  # no content-length: only the real length can tell
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096].encode()

    async with client() as c:
        r = await c.post(hook.path, content=big)
        assert (r.status_code, r.json()) == (413, {"error": "payload_too_large"})
        r = await c.post(hook.path, content=chunks())
        assert r.status_code == 413
        exactly = hook.text(comment="")
        exactly = exactly.replace('"comment": ""', '"comment": "' + "y" * (64 * 1024 - len(exactly)) + '"')
        assert len(exactly) == 64 * 1024
        assert (await c.post(hook.path, content=exactly)).status_code == 202
    assert len(signal_rows(sqlite_url)) == 1


async def test_invalid_alerts_get_422_with_details_and_are_recorded_as_rejected(db_url: str) -> None:
    hook = await make_hook()
    stale = (utcnow() - timedelta(seconds=get_settings().webhook_max_lag_seconds + 60)).isoformat()
    cases = [
        (
            hook.text(action=None, market="ETHBTC"),
            ["action: required", "market: 'ETHBTC' is not a USD perpetual"],
        ),
        (hook.text(timestamp=stale), ["timestamp: the alert is"]),
        (hook.text(market="NOSUCHCOIN-USD"), ["market: NOSUCHCOIN-USD is not listed on your venue"]),
        (hook.text(size="1", size_usd="100"), ["size, size_usd, risk_pct: give at most one"]),
        # a {{close}} that printed NaN: not JSON, but the secret is there, so the trader learns why
        (
            f'{{"secret": "{hook.secret}", "action": "buy", "market": "BTC-USD", "price": NaN,}}',
            ["body: not valid JSON"],
        ),
        (
            f'{{"secret": "{hook.secret}", "action": "buy", "comment": "caf'.encode() + b'\xe9"}',
            ["body: not valid UTF-8 (byte"],
        ),
        # not an object, but both factors are there: authenticated, so it is recorded
        (json.dumps([hook.body()]), ["body: expected a JSON object"]),
        (hook.text(price="1e999999999999999999999"), ["price: '1e999999999999999999999' is not a number"]),
        (hook.text(size="9" * 70), ["size: "]),
    ]
    async with client() as c:
        for content, expected in cases:
            r = await c.post(hook.path, content=content, headers={"content-type": "text/plain"})
            assert r.status_code == 422, (content, r.text)
            body = r.json()
            assert body["error"] == "invalid_payload" and isinstance(body["signal_id"], int)
            assert len(body["details"]) == len(expected), body
            for detail, prefix in zip(body["details"], expected, strict=True):
                assert detail.startswith(prefix), (detail, prefix)
    rows = signal_rows(db_url)
    assert len(rows) == len(cases) and {row["status"] for row in rows} == {"REJECTED"}
    for row in rows:
        assert row["dedupe_key"] is None and row["reason"] and hook.secret not in row["raw_body"]
    reason = rows[0]["reason"]
    assert reason.startswith("action: required (") and "; market: 'ETHBTC' is not" in reason


async def test_allowlist_refuses_other_senders_and_honours_only_trusted_proxies(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, open_hook = await make_hook(allowlist=True), await make_hook()
    async with client(ip="203.0.113.9") as c:
        r = await c.post(hook.path, content=hook.text())
        assert r.status_code == 403 and r.json()["error"] == "source_not_allowed"
        refused = r.json()["signal_id"]
        # an untrusted peer cannot claim to be TradingView through X-Forwarded-For
        r = await c.post(hook.path, content=hook.text(), headers={"x-forwarded-for": TV_IP})
        assert r.status_code == 403
        assert (await c.post(open_hook.path, content=open_hook.text())).status_code == 202  # no allowlist
        # a wrong secret stays a 401 (and no row) even from a refused address
        assert (await c.post(hook.path, content=hook.text(secret="nope"))).status_code == 401
    async with client(ip=TV_IP) as c:
        assert (await c.post(hook.path, content=hook.text())).status_code == 202
    use_settings(monkeypatch, TRUSTED_PROXIES='["127.0.0.1"]')
    async with client(ip="127.0.0.1") as c:
        r = await c.post(
            hook.path, content=hook.text(), headers={"x-forwarded-for": f"198.51.100.1, {TV_IP}"}
        )
        assert r.status_code == 202, r.text
        r = await c.post(
            hook.path, content=hook.text(), headers={"x-forwarded-for": f"{TV_IP}, 198.51.100.1"}
        )
        assert r.status_code == 403
        # two header lines are one list: the client's own line cannot hide the hop our proxy added
        r = await c.post(
            hook.path,
            content=hook.text(),
            headers=[("x-forwarded-for", TV_IP), ("x-forwarded-for", "198.51.100.7")],
        )
        assert r.status_code == 403
    rows = signal_rows(db_url, hook.address)
    assert rows[5]["source_ip"] == "198.51.100.7"
    rows = rows[:5]
    assert [row["status"] for row in rows] == ["REJECTED", "REJECTED", "ACCEPTED", "ACCEPTED", "REJECTED"]
    assert rows[0]["id"] == refused and rows[0]["source_ip"] == "203.0.113.9"
    assert rows[0]["reason"] == "source address 203.0.113.9 is not one of TradingView's webhook addresses"
    assert rows[4]["source_ip"] == "198.51.100.1"


async def test_per_webhook_cap_records_the_excess_as_rejected_and_never_answers_429(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, WEBHOOK_PER_MINUTE_CAP="3")
    hook, other = await make_hook(), await make_hook()
    async with client(ip=TV_IP) as c:
        assert (await c.post(hook.path, content=hook.text(action="nope"))).status_code == 422  # not counted
        answers = [await c.post(hook.path, content=hook.text()) for _ in range(5)]
        assert (await c.post(other.path, content=other.text())).status_code == 202  # per webhook
    assert [r.status_code for r in answers] == [202, 202, 202, 200, 200]
    for r in answers[3:]:
        body = r.json()
        assert body["status"] == "rejected" and body["reason"].startswith(
            "per-minute cap: more than 3 alerts"
        )
    rows = signal_rows(db_url, hook.address)
    assert [row["status"] for row in rows] == [
        "REJECTED",
        "ACCEPTED",
        "ACCEPTED",
        "ACCEPTED",
        "REJECTED",
        "REJECTED",
    ]
    assert (
        rows[4]["id"] == answers[3].json()["signal_id"] and rows[4]["reason"] == answers[3].json()["reason"]
    )
    assert rows[4]["market"] == "BTC-USD"  # the trader sees what was dropped


async def test_the_same_alert_id_is_stored_once_even_after_the_window(db_url: str) -> None:
    hook = await make_hook()
    async with client(ip=TV_IP) as c:
        first = await c.post(hook.path, content=hook.text(alert_id="strat-1-42"))
        assert first.status_code == 202
        # another body, same id: TradingView's resend of an edited alert, or a replay
        again = await c.post(hook.path, content=hook.text(alert_id=" strat-1-42 ", comment="changed") + "\n")
        assert (again.status_code, again.json()) == (
            200,
            {"status": "duplicate", "signal_id": first.json()["signal_id"]},
        )
        execute_sql(db_url, "UPDATE signals SET received_at = :t", t=utcnow() - timedelta(days=2))
        later = await c.post(hook.path, content=hook.text(alert_id="strat-1-42"))
        assert later.json() == {"status": "duplicate", "signal_id": first.json()["signal_id"]}
    assert len(signal_rows(db_url)) == 1


async def test_the_same_body_is_a_duplicate_inside_the_window_and_new_after_it(db_url: str) -> None:
    hook = await make_hook()
    content = hook.text(alert_id=None, timestamp=None)
    async with client(ip=TV_IP) as c:
        first = (await c.post(hook.path, content=content)).json()
        assert first["status"] == "accepted"
        # reformatted (spacing, key order, a newline) it is still the same alert
        reordered = json.dumps(dict(reversed(list(json.loads(content).items()))), indent=2) + "\n"
        again = await c.post(hook.path, content=reordered, headers={"content-type": "text/plain"})
        assert again.json() == {"status": "duplicate", "signal_id": first["signal_id"]}
        window = get_settings().webhook_dedupe_window_seconds
        execute_sql(db_url, "UPDATE signals SET received_at = :t", t=utcnow() - timedelta(seconds=window + 5))
        later = (await c.post(hook.path, content=content)).json()
        assert later["status"] == "accepted" and later["signal_id"] != first["signal_id"]
        repeat = (await c.post(hook.path, content=content)).json()
        assert repeat == {"status": "duplicate", "signal_id": later["signal_id"]}
    rows = signal_rows(db_url)
    assert [row["id"] for row in rows] == [first["signal_id"], later["signal_id"]]
    assert rows[0]["dedupe_key"] == f"{rows[1]['dedupe_key']}:{rows[0]['id']}"  # the old row was re-keyed
    assert rows[1]["dedupe_key"].startswith("body:")


async def test_twenty_concurrent_copies_store_one_row_and_all_name_it(db_url: str) -> None:
    hook = await make_hook()
    app = wrapped_app()
    content = hook.text(alert_id="burst-1")
    body_content = hook.text(alert_id=None)

    async def send(text: str):
        async with client(app, ip=TV_IP) as c:
            return await c.post(hook.path, content=text)

    for text in (content, body_content):
        answers = await asyncio.gather(*(send(text) for _ in range(20)))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] * 19 + [202], statuses
        ids = {r.json()["signal_id"] for r in answers}
        assert len(ids) == 1
        assert sorted(r.json()["status"] for r in answers) == ["accepted"] + ["duplicate"] * 19
    rows = signal_rows(db_url)
    assert len(rows) == 2 and {row["status"] for row in rows} == {"ACCEPTED"}


async def test_a_rotated_secret_stops_working_at_once(db_url: str) -> None:
    hook = await make_hook()
    app = wrapped_app()
    async with client(app, ip=TV_IP) as c:
        assert (await c.post(hook.path, content=hook.text())).status_code == 202
        await rotate_webhook_secret(hook.address)
        r = await c.post(hook.path, content=hook.text())
        assert (r.status_code, r.json()) == (401, {"error": "unauthorized"})
        from trading_app.services.accounts.account import reveal_webhook_secret

        hook.secret = await reveal_webhook_secret(hook.address)
        assert (await c.post(hook.path, content=hook.text())).status_code == 202
    assert len(signal_rows(db_url)) == 2


async def test_database_down_answers_503_and_stores_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = await make_hook()
    content = hook.text()
    # 1. the write fails after the lookup succeeded (a trigger stands in for a full disk)
    if db_url.startswith("sqlite"):
        execute_sql(
            db_url,
            "CREATE TRIGGER fail_insert BEFORE INSERT ON signals BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        )
    else:
        execute_sql(
            db_url,
            "CREATE FUNCTION fail_insert() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ "
            "LANGUAGE plpgsql; "
            "CREATE TRIGGER fail_insert BEFORE INSERT ON signals EXECUTE FUNCTION fail_insert()",
        )
    app = wrapped_app()
    async with client(app, ip=TV_IP) as c:
        r = await c.post(hook.path, content=content)
        assert (r.status_code, r.json()) == (503, {"error": "unavailable"})
        r = await c.post(hook.path, content=hook.text(action="bad"))  # even a rejection needs its row
        assert r.status_code == 503
        assert signal_rows(db_url) == []
        execute_sql(
            db_url, "DROP TRIGGER fail_insert" + ("" if db_url.startswith("sqlite") else " ON signals")
        )
        r = await c.post(hook.path, content=content)  # TradingView's resend after the 5xx
        assert r.status_code == 202
    assert len(signal_rows(db_url)) == 1
    # 2. the database cannot be reached at all
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    reset_app_caches()
    async with client(wrapped_app(), ip=TV_IP) as c:
        r = await c.post(hook.path, content=hook.text())
        assert (r.status_code, r.json()) == (503, {"error": "unavailable"})
    assert len(signal_rows(db_url)) == 1


async def test_execution_is_dispatched_after_the_row_is_committed(sqlite_url: str) -> None:
    hook = await make_hook()
    seen: list[tuple[int, str]] = []

    async def executor(signal_id: int) -> None:
        rows = {row["id"]: row for row in signal_rows(sqlite_url)}
        seen.append((signal_id, rows[signal_id]["status"]))

    dispatch.set_executor(executor)
    try:
        async with client(ip=TV_IP) as c:
            accepted = (await c.post(hook.path, content=hook.text(alert_id="a"))).json()["signal_id"]
            await c.post(hook.path, content=hook.text(alert_id="a"))  # a duplicate: no second execution
            await c.post(hook.path, content=hook.text(action="x"))  # rejected: nothing to execute
        await dispatch.drain()
    finally:
        dispatch.set_executor(None)
    assert seen == [(accepted, "ACCEPTED")]
