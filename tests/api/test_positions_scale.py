"""`GET /api/user/positions` shows a scaled position's levels, stop and stop history, on the grid."""

from __future__ import annotations

from tests.api.test_trading import ALICE, BOB, _login
from tests.fakes.indexer import FakeIndexer
from tests.services.scale_support import add_position, scaled_after_tp1


async def test_the_api_shows_the_scale_of_a_scaled_position(db_url: str, paper_market: FakeIndexer) -> None:  # noqa: F811
    alice, bob = await _login(ALICE), await _login(BOB)
    await scaled_after_tp1(ALICE)
    await add_position(ALICE, plan=None, market="ETH-USD")
    rows = {r["market"]: r for r in (await alice.get("/api/user/positions")).json()["positions"]}
    assert rows["ETH-USD"]["scale"] is None
    scale = rows["BTC-USD"]["scale"]
    assert [(lv["n"], lv["price"], lv["size"], lv["state"]) for lv in scale["levels"]] == [
        (1, "97500.0", "0.005", "filled"),
        (2, "99000.0", "0.005", "waiting"),
    ]
    assert (scale["stop"], scale["break_even"], scale["trailing"]) == ("97262.0", True, False)
    assert [(h["from"], h["to"], h["reason"], h["outcome"]) for h in scale["history"]] == [
        (None, "96000.0", "INITIAL", "MOVED"),
        ("96000.0", "97262.0", "BREAK_EVEN", "MOVED"),
    ]
    assert (await bob.get("/api/user/positions")).json() == {"positions": []}
    await alice.aclose()
    await bob.aclose()
