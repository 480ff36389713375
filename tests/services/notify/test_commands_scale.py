"""/positions of a scaled position: one more line with its levels (filled/total) and its stop."""

from __future__ import annotations

from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram_html import check_html
from tests.services.engine_support import make_user
from tests.services.scale_support import D, add_position, scaled_after_tp1
from trading_app.services.notify.commands import run_command


def plain(html_text: str) -> str:
    text, problem = check_html(html_text)
    assert problem is None, problem
    return text


async def test_positions_shows_levels_and_the_stop(db_url: str, paper_market: FakeIndexer) -> None:  # noqa: F811
    user, other = await make_user(1), await make_user(2)
    await scaled_after_tp1(user)
    await add_position(user, plan=None, market="ETH-USD", tick_size=D("0.1"))
    await scaled_after_tp1(other, market="SOL-USD", trail_best=D("99000"))
    text = plain((await run_command(user, "/positions")).text)
    blocks = {market: b for b in text.split("\n\n") for market in ("BTC-USD", "ETH-USD") if market in b}
    btc, eth = blocks["BTC-USD"], blocks["ETH-USD"]
    assert btc.endswith("Levels 1/2 filled · stop 97,262.0 break-even"), btc
    assert "Levels" not in eth  # a single target reads as before
    assert "SOL-USD" not in text  # the other trader's position
    trailing = plain((await run_command(other, "/positions")).text)
    assert trailing.endswith("Levels 1/2 filled · stop 97,262.0 break-even trailing"), trailing
