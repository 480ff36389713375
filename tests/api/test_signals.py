"""`GET /api/signals`: the signed-in trader's alert log, through the real app on PostgreSQL and SQLite."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.api.webhook_support import TV_IP, client, make_hook
from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from trading_app.db.engine import session_scope
from trading_app.services.auth.sessions import SESSION_COOKIE, create_session, revoke_session
from trading_app.services.engine import executor, timeline
from trading_app.services.notify.notifier import get_notifier


async def sign_in(address: str) -> str:
    async with session_scope() as session:
        token, _ = await create_session(session, address)
    return token


async def test_the_log_is_the_users_own_newest_first_and_pages_with_before(db_url: str) -> None:
    hook, other = await make_hook(), await make_hook()
    async with client(ip=TV_IP) as c:
        ids = [
            (await c.post(hook.path, content=hook.text(comment=f"n{n}"))).json()["signal_id"]
            for n in range(5)
        ]
        rejected = (await c.post(hook.path, content=hook.text(action="hold"))).json()["signal_id"]
        await get_notifier().drain(5)  # the refusal is told in the background
        theirs = (await c.post(other.path, content=other.text())).json()["signal_id"]
    token = await sign_in(hook.address)
    async with client() as c:
        c.cookies.set(SESSION_COOKIE, token)
        r = await c.get("/api/signals", params={"limit": 4})
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        page = r.json()
        assert [s["id"] for s in page["signals"]] == [rejected, *reversed(ids[1:])][:4]
        assert page["next_before"] == page["signals"][-1]["id"]
        newest = page["signals"][0]
        assert newest["status"] == "REJECTED" and newest["reason"].startswith("action: 'hold' is not one of")
        assert newest["position_id"] is None and newest["source_ip"] == TV_IP
        assert hook.secret not in r.text and '"secret": "***"' in newest["payload"]
        accepted = page["signals"][1]
        assert (
            accepted["status"] == "ACCEPTED"
            and accepted["action"] == "long"
            and accepted["market"] == "BTC-USD"
        )
        assert accepted["received_at"].endswith("+00:00")

        rest = (await c.get("/api/signals", params={"limit": 4, "before": page["next_before"]})).json()
        assert [s["id"] for s in rest["signals"]] == [ids[1], ids[0]] and rest["next_before"] is None
        everything = (await c.get("/api/signals")).json()
        assert theirs not in [s["id"] for s in everything["signals"]] and len(everything["signals"]) == 6
        # another user's id as the cursor reveals nothing
        assert (await c.get("/api/signals", params={"before": theirs})).json() == {
            "signals": [],
            "next_before": None,
        }


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"before": "-1"},
        {"before": "x"},
        # digits of other scripts: `²` made int() raise (500), `３` and `٣` were read as 3
        {"limit": "²"},
        {"limit": "３"},
        {"limit": "٣"},
        {"before": "²"},
        {"before": "１２"},
        {"limit": " 5"},
        {"limit": "+5"},
        {"before": "9" * 40},
    ],
)
async def test_bad_paging_parameters_get_400(sqlite_url: str, params: dict[str, str]) -> None:
    hook = await make_hook()
    token = await sign_in(hook.address)
    async with client() as c:
        r = await c.get("/api/signals", params=params, headers={"cookie": f"{SESSION_COOKIE}={token}"})
    assert r.status_code == 400 and r.json()["error"] == f"invalid_{next(iter(params))}"


async def test_no_live_session_gets_401(db_url: str) -> None:
    hook = await make_hook()
    token = await sign_in(hook.address)
    async with client() as c:
        assert (await c.get("/api/signals")).status_code == 401
        assert (
            await c.get("/api/signals", headers={"cookie": f"{SESSION_COOKIE}=forged"})
        ).status_code == 401
        assert (
            await c.get("/api/signals", headers={"cookie": f"{SESSION_COOKIE}={token}"})
        ).status_code == 200
        await revoke_session(token)
        r = await c.get("/api/signals", headers={"cookie": f"{SESSION_COOKIE}={token}"})
        assert (r.status_code, r.json()) == (401, {"error": "not_authenticated"})


async def test_the_reviewers_superscript_url_is_400_not_500(sqlite_url: str) -> None:
    hook = await make_hook()
    token = await sign_in(hook.address)
    async with client() as c:
        r = await c.get("/api/signals?limit=%C2%B2", headers={"cookie": f"{SESSION_COOKIE}={token}"})
    assert (r.status_code, r.json()) == (400, {"error": "invalid_limit"})


# -- GET /api/signals/{id}: the story of one alert --------------------------------------------------


async def test_the_story_of_an_alert_is_its_owners_alone(db_url: str, paper_market: object) -> None:
    hook, other = await make_hook(), await make_hook()
    async with client(ip=TV_IP) as c:
        sid = (await c.post(hook.path, content=hook.text(size="0.01", sl="60000", tp="70000"))).json()[
            "signal_id"
        ]
        refused = (await c.post(hook.path, content=hook.text(action="hold"))).json()["signal_id"]
    await executor.execute_signal(sid)
    await timeline.drain()
    token, other_token = await sign_in(hook.address), await sign_in(other.address)
    async with client() as c:
        assert (await c.get(f"/api/signals/{sid}")).json() == {"error": "not_authenticated"}
        assert (await c.get(f"/api/signals/{sid}")).status_code == 401
        c.cookies.set(SESSION_COOKIE, token)
        r = await c.get(f"/api/signals/{sid}")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        story = r.json()
        assert set(story) == {"signal", "parsed", "sizing", "orders", "timeline"}
        assert story["signal"]["id"] == sid and story["signal"]["status"] == "EXECUTED"
        assert '"secret": "***"' in story["signal"]["payload"] and hook.secret not in r.text
        assert story["parsed"]["size"] == "0.01" and Decimal(story["sizing"]["size"]) == Decimal("0.01")
        assert story["sizing"]["equity"] == "10000"
        assert {o["role"] for o in story["orders"]} == {"ENTRY", "STOP_LOSS", "TAKE_PROFIT"}
        assert all(o["venue_order_id"] for o in story["orders"])
        assert Decimal(story["orders"][0]["size"]) == Decimal("0.01")  # exact decimal strings
        phases = [s["phase"] for s in story["timeline"]]
        assert phases[:3] == ["received", "stored", "claimed"] and "tp_placed" in phases
        assert all(s["at"].endswith("+00:00") and s["label"] for s in story["timeline"])

        rejected = (await c.get(f"/api/signals/{refused}")).json()
        assert [s["phase"] for s in rejected["timeline"]] == ["received", "stored", "rejected"]
        assert rejected["parsed"] is None and rejected["sizing"] is None and rejected["orders"] == []

        for bad in ("0", "abc", "-1", "1e3", str(2**64), str(refused + 1000)):
            r = await c.get(f"/api/signals/{bad}")
            assert (r.status_code, r.json()) == (404, {"error": "not_found"}), bad

        c.cookies.set(SESSION_COOKIE, other_token)  # another trader: as if it did not exist
        r = await c.get(f"/api/signals/{sid}")
        assert (r.status_code, r.json()) == (404, {"error": "not_found"})
        assert "BTC-USD" not in r.text


async def test_each_alert_says_what_the_trader_sent_and_why_in_plain_words(
    db_url: str, fake_indexer: FakeIndexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPER_PRICE_SOURCE", fake_indexer.url)
    reset_app_caches()
    hook = await make_hook()
    async with client(ip=TV_IP) as c:
        unknown = (await c.post(hook.path, content=hook.text(market="xyzceausdt.p"))).json()["signal_id"]
        ok = (await c.post(hook.path, content=hook.text(market="BINANCE:ETHUSDT.P"))).json()["signal_id"]
    await get_notifier().drain(5)
    async with client() as c:
        c.cookies.set(SESSION_COOKIE, await sign_in(hook.address))
        items = {s["id"]: s for s in (await c.get("/api/signals")).json()["signals"]}
    refused, accepted = items[unknown], items[ok]
    assert (refused["sent_action"], refused["sent_market"], refused["market"]) == (
        "buy",
        "xyzceausdt.p",
        None,
    )
    assert (
        refused["reason_text"] == "This market is not listed on your venue: xyzceausdt.p (read as XYZCEA-USD)"
    )
    assert refused["reason_code"] == "unknown_market"
    assert refused["reason"] == "market: xyzceausdt.p (read as XYZCEA-USD) is not listed on your venue"
    assert (accepted["sent_market"], accepted["market"]) == ("BINANCE:ETHUSDT.P", "ETH-USD")
    assert accepted["reason_text"] is None and accepted["reason_code"] is None
