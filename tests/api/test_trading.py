"""Session-scoped REST for scripts: webhook, positions, manual close, PnL summary, tenant isolation."""

from __future__ import annotations

import httpx

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import LONG_BTC, D, make_signal, positions
from trading_app.api.app import build_api
from trading_app.db.engine import session_scope
from trading_app.services.accounts.users import ensure_user
from trading_app.services.auth.sessions import SESSION_COOKIE, create_session
from trading_app.services.engine import executor

ALICE = "0x00000000000000000000000000000000000A11cE"
BOB = "0x0000000000000000000000000000000000000B0b"


async def _login(address: str) -> httpx.AsyncClient:
    async with session_scope() as session:
        await ensure_user(session, address)
        token, _ = await create_session(session, address)
    # what the app's own page sends on a write (tests/api/test_guards.py: anything else is refused)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_api()), base_url="http://test",
                             cookies={SESSION_COOKIE: token}, headers=SAME_ORIGIN_JSON)


SAME_ORIGIN_JSON = {"origin": "http://localhost:3000", "content-type": "application/json"}


async def test_every_route_needs_a_session(db_url: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_api()), base_url="http://t",
                                 headers=SAME_ORIGIN_JSON) as c:
        for method, path in [("GET", "/api/user/webhook"), ("GET", "/api/user/positions"),
                             ("POST", "/api/trading/close/1"), ("POST", "/api/trading/close-all"),
                             ("POST", "/api/trading/cancel/1"),
                             ("GET", "/api/pnl/summary")]:
            r = await c.request(method, path)
            assert r.status_code == 401 and r.json() == {"error": "not_authenticated"}, path


async def test_positions_close_and_summary(db_url: str, paper_market: FakeIndexer) -> None:
    alice, bob = await _login(ALICE), await _login(BOB)
    await executor.execute_signal(await make_signal(ALICE, LONG_BTC))
    [position] = await positions(ALICE)

    webhook = (await alice.get("/api/user/webhook")).json()
    assert webhook["url"].endswith("/api/webhooks/signal/" + webhook["url"].rsplit("/", 1)[1])
    assert len(webhook["secret"]) >= 24

    open_rows = (await alice.get("/api/user/positions", params={"status": "open"})).json()["positions"]
    assert [p["id"] for p in open_rows] == [position.id]
    row = open_rows[0]
    assert row["market"] == "BTC-USD" and row["side"] == "LONG" and row["size"] == "0.0100"  # on the step
    assert row["mark_price"] is not None and row["unrealized_pnl"] is not None
    assert (await alice.get("/api/user/positions", params={"status": "nope"})).status_code == 400

    # Bob sees none of it and cannot close it
    assert (await bob.get("/api/user/positions")).json() == {"positions": []}
    assert (await bob.post(f"/api/trading/close/{position.id}")).status_code == 404
    assert (await positions(ALICE))[0].status == "OPEN"

    paper_market.set_price("BTC-USD", D("66000"))
    closed = await alice.post(f"/api/trading/close/{position.id}")
    assert closed.status_code == 200, closed.text
    assert closed.json()["position"]["status"] == "CLOSED"
    assert closed.json()["position"]["close_reason"] == "MANUAL"
    again = await alice.post(f"/api/trading/close/{position.id}")
    assert again.status_code == 409 and again.json()["error"] == "position_not_open"
    assert (await alice.post("/api/trading/close/abc")).status_code == 400
    assert (await alice.post("/api/trading/close/999999")).status_code == 404

    summary = (await alice.get("/api/pnl/summary")).json()
    [final] = await positions(ALICE)
    assert summary["closed_trades"] == 1 and summary["open_positions"] == 0
    assert D(summary["realized"]) == final.realized_pnl
    assert (await bob.get("/api/pnl/summary")).json()["closed_trades"] == 0
    await alice.aclose()
    await bob.aclose()


async def test_close_all(db_url: str, paper_market: FakeIndexer) -> None:
    client = await _login(ALICE)
    await executor.execute_signal(await make_signal(ALICE, LONG_BTC))
    await executor.execute_signal(await make_signal(
        ALICE, {"action": "sell", "market": "ETH-USD", "size": "0.1", "sl": "3300", "tp": "2800"}))
    r = await client.post("/api/trading/close-all")
    assert r.status_code == 200
    assert sorted(p["status"] for p in r.json()["positions"]) == ["CLOSED", "CLOSED"]
    assert all(p.status == "CLOSED" for p in await positions(ALICE))
    await client.aclose()


async def test_position_ids_are_ascii_digits_only(db_url: str, paper_market: FakeIndexer) -> None:
    client = await _login(ALICE)
    await executor.execute_signal(await make_signal(ALICE, LONG_BTC))
    [position] = await positions(ALICE)
    digit = str(position.id)
    # `²` made int() raise (500); full-width and Arabic-Indic digits were read as ASCII ones
    full_width = "".join(chr(ord(d) + 0xFEE0) for d in digit)
    arabic_indic = "".join(chr(ord(d) - ord("0") + 0x0660) for d in digit)
    for raw in ("%C2%B2", full_width, arabic_indic, "-" + digit, "+" + digit, digit + "%20", "0", "9" * 40):
        r = await client.post(f"/api/trading/close/{raw}")
        assert (r.status_code, r.json()["error"]) == (400, "invalid_position_id"), raw
    assert [p.status for p in await positions(ALICE)] == ["OPEN"]
    assert (await client.post(f"/api/trading/close/{digit}")).status_code == 200
    await client.aclose()


LIMIT_BTC = {**LONG_BTC, "order_type": "limit", "price": "60000", "sl": "55000"}  # rests below 65,000


async def test_cancel_a_pending_entry_is_the_owners_alone(db_url: str, paper_market: FakeIndexer) -> None:
    alice, bob = await _login(ALICE), await _login(BOB)
    await executor.execute_signal(await make_signal(ALICE, LIMIT_BTC))
    [position] = await positions(ALICE)
    assert position.status == "OPENING"

    # a resting entry is pending, not open: with its limit price and expiry
    assert (await alice.get("/api/user/positions", params={"status": "open"})).json() == {"positions": []}
    [row] = (await alice.get("/api/user/positions", params={"status": "pending"})).json()["positions"]
    assert (row["id"], row["limit_price"], row["size"]) == (position.id, "60000", "0.01")
    assert row["order_type"] == "LIMIT"
    assert row["expires_at"] is not None
    assert (await alice.get("/api/pnl/summary")).json()["open_positions"] == 0
    assert (await bob.get("/api/user/positions", params={"status": "pending"})).json() == {"positions": []}

    # Bob cannot cancel it (404, as for an id that does not exist); nothing changed
    denied = await bob.post(f"/api/trading/cancel/{position.id}")
    assert (denied.status_code, denied.json()["error"]) == (404, "position_not_found")
    assert (await positions(ALICE))[0].status == "OPENING"
    assert (await alice.post("/api/trading/cancel/999999")).status_code == 404
    assert (await alice.post("/api/trading/cancel/abc")).status_code == 400
    # a write without the page's origin is refused before the route runs
    no_origin = await alice.post(f"/api/trading/cancel/{position.id}", headers={"origin": "https://evil.example"})
    assert no_origin.status_code == 403 and (await positions(ALICE))[0].status == "OPENING"

    done = await alice.post(f"/api/trading/cancel/{position.id}")
    assert done.status_code == 200, done.text
    shown = done.json()["position"]
    assert (shown["status"], shown["close_reason"]) == ("CANCELLED", "MANUAL")
    again = await alice.post(f"/api/trading/cancel/{position.id}")
    assert (again.status_code, again.json()["error"]) == (409, "position_not_pending")
    [closed] = (await alice.get("/api/user/positions", params={"status": "closed"})).json()["positions"]
    assert closed["status"] == "CANCELLED" and closed["realized_pnl"] is None
    await alice.aclose()
    await bob.aclose()


async def test_an_open_position_cannot_be_cancelled(sqlite_url: str, paper_market: FakeIndexer) -> None:
    client = await _login(ALICE)
    await executor.execute_signal(await make_signal(ALICE, LONG_BTC))
    [position] = await positions(ALICE)
    r = await client.post(f"/api/trading/cancel/{position.id}")
    assert (r.status_code, r.json()["error"]) == (409, "position_not_pending")
    assert (await positions(ALICE))[0].status == "OPEN"
    await client.aclose()


async def test_close_all_also_cancels_pending_entries(sqlite_url: str, paper_market: FakeIndexer) -> None:
    client = await _login(ALICE)
    await executor.execute_signal(await make_signal(ALICE, LONG_BTC))
    await executor.execute_signal(await make_signal(ALICE, {**LIMIT_BTC, "market": "ETH-USD", "price": "2000",
                                                            "sl": "1900", "tp": "3500"}))
    r = await client.post("/api/trading/close-all")
    assert r.status_code == 200
    assert sorted(p["status"] for p in r.json()["positions"]) == ["CANCELLED", "CLOSED"]
    await client.aclose()
