"""The trader's commands in Telegram: what each one answers, for one already-identified trader.

The caller (`telegram_updates`) has checked that the message came from the chat saved in
Settings; everything here is scoped to that one trader. Answers are Telegram HTML built with the
escaping formatters of `messages` (prices on the market's tick, sizes on its step, money in cents).
The work is done by the existing services (positions, closes and PnL from `engine.manual`, equity
from `accounts.funds`, the pause flag from `accounts.pause`); nothing is recomputed here.
/close and /closeall only ask: the close runs when the trader taps Confirm (`command_confirm`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from trading_app.domain.clock import utcnow
from trading_app.domain.tickers import normalize_market
from trading_app.services.accounts.funds import FundsUnavailable, account_funds
from trading_app.services.accounts.pause import paused_since, set_paused
from trading_app.services.engine import manual
from trading_app.services.engine.entry_facts import start_of_day
from trading_app.services.notify import events
from trading_app.services.notify.command_confirm import Reply, ask
from trading_app.services.notify.messages import badge, esc, fit, fmt_grid, fmt_usd

log = logging.getLogger(__name__)

__all__ = ["HELP", "NOT_LINKED", "Reply", "run_command"]

NOT_LINKED = "This chat is not linked to a trading account."
MAX_PNL_DAYS = 365
DEFAULT_PNL_DAYS = 7
HELP = "\n".join(
    [
        "<b>Commands</b>",
        "/status — venue, equity, open positions, today's PnL, paused or not",
        "/positions — open positions with entry, mark, TP, SL and unrealized PnL",
        f"/pnl [days] — realized PnL of the last days (default {DEFAULT_PNL_DAYS})",
        "/close &lt;market&gt; — close one position (asks first)",
        "/closeall — close every open position (asks first)",
        "/pause — stop trading alerts (they are recorded as rejected)",
        "/resume — trade alerts again",
        "/help — this list",
    ]
)


def _words(text: str) -> tuple[str, list[str]]:
    parts = text.strip().split()
    if not parts or not parts[0].startswith("/"):
        return "", []
    # "/close@my_bot BTC-USD": the bot's name after @ is Telegram's group syntax
    return parts[0][1:].split("@", 1)[0].lower(), parts[1:]


async def run_command(user: str, text: str) -> Reply:
    """Answer one command of `user` (text as typed, e.g. "/pnl 30"); unknown ones get the help."""
    name, args = _words(text)
    handler = _COMMANDS.get(name)
    if handler is None:
        return Reply(HELP if name in ("help", "start") else "Unknown command.\n\n" + HELP)
    return await handler(user, args)


async def _status(user: str, args: list[str]) -> Reply:
    try:
        funds = await account_funds(user)
        network, equity = funds.network, fmt_usd(funds.equity)
    except FundsUnavailable as e:
        network, equity = e.network, "unavailable"
    today = await manual.pnl_summary(user, since=start_of_day())
    paused = await paused_since(user)
    lines = [
        f"{badge(network)} <b>Status</b>",
        f"Equity: {esc(equity)}",
        f"Open positions: {today.open_positions}",
        f"Today's PnL: {fmt_usd(today.realized, signed=True)} realized, "
        f"{fmt_usd(today.unrealized, signed=True)} unrealized",
        f"Trading: <b>{'PAUSED' if paused else 'on'}</b>",
    ]
    return Reply("\n".join(lines))


async def _positions(user: str, args: list[str]) -> Reply:
    views = await manual.list_positions(user, "open")
    if not views:
        return Reply("No open positions.")
    blocks = []
    for v in views:
        tick, step = v.tick_size, v.step_size
        blocks.append(
            "\n".join(
                [
                    f"{badge(v.network)} <b>{esc(v.side)} {esc(v.market)}</b> {fmt_grid(v.size, step)}",
                    f"Entry {fmt_grid(v.entry_price, tick)} · Mark {fmt_grid(v.mark_price, tick)}",
                    f"TP {fmt_grid(v.tp_price, tick)} · SL {fmt_grid(v.sl_price, tick)}",
                    f"Unrealized PnL: {fmt_usd(v.unrealized_pnl, signed=True)}",
                    *_scale_line(v),
                ]
            )
        )
    return Reply(fit("\n\n".join(blocks)))


def _scale_line(v: manual.PositionView) -> list[str]:
    """A scaled position's extra line: `Levels 1/2 filled · stop 97,262.0 break-even`."""
    scale = v.scale
    if scale is None:
        return []
    badges = ["break-even"] if scale.break_even else []
    if scale.trailing:
        badges.append("trailing")
    stop = " ".join([f"stop {fmt_grid(scale.stop, v.tick_size)}", *badges])
    return [f"Levels {scale.filled_levels}/{len(scale.levels)} filled · {stop}"]


async def _pnl(user: str, args: list[str]) -> Reply:
    days = DEFAULT_PNL_DAYS
    if args:
        if not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_PNL_DAYS:
            return Reply(f"Usage: /pnl [days], days from 1 to {MAX_PNL_DAYS}.")
        days = int(args[0])
    summary = await manual.pnl_summary(user, since=utcnow() - timedelta(days=days))
    rate = f"{summary.win_rate_pct:.1f}%" if summary.win_rate_pct is not None else "—"
    lines = [
        f"<b>PnL, last {days} day{'s' if days != 1 else ''}</b>",
        f"Realized: {fmt_usd(summary.realized, signed=True)} ({summary.closed_trades} closed trades)",
        f"Wins / losses: {summary.wins} / {summary.losses} · win rate {rate}",
        f"Fees: {fmt_usd(summary.fees)}",
        f"Unrealized now: {fmt_usd(summary.unrealized, signed=True)} ({summary.open_positions} open)",
    ]
    return Reply("\n".join(lines))


async def _close(user: str, args: list[str]) -> Reply:
    if len(args) != 1:
        return Reply("Usage: /close &lt;market&gt;, for example /close BTC-USD")
    market = normalize_market(args[0])
    if market is None:
        return Reply(f"{esc(args[0], 40)} is not a market name (try BTC-USD).")
    live = [v for v in await manual.list_positions(user, "open") if v.market == market]
    if not live:
        return Reply(f"No open {esc(market)} position.")
    v = live[0]
    question = (
        f"Close <b>{esc(v.side)} {esc(market)}</b> {fmt_grid(v.size, v.step_size)} at market "
        f"(unrealized {fmt_usd(v.unrealized_pnl, signed=True)})?"
    )
    return await ask(user, "close", market, question)


async def _closeall(user: str, args: list[str]) -> Reply:
    live = await manual.list_positions(user, "open")
    if not live:
        return Reply("No open positions.")
    names = ", ".join(esc(v.market) for v in live)
    return await ask(user, "closeall", None, f"Close all {len(live)} open positions ({names}) at market?")


async def _pause(user: str, args: list[str]) -> Reply:
    await set_paused(user, True)
    await events.positions_changed(user)  # the dashboard shows "Paused"
    return Reply(
        "⏸ <b>Trading paused.</b> Alerts are recorded as rejected and nothing is traded. "
        "Open positions keep their TP and SL; /close still works. /resume to trade again."
    )


async def _resume(user: str, args: list[str]) -> Reply:
    await set_paused(user, False)
    await events.positions_changed(user)
    return Reply("▶️ <b>Trading resumed.</b> New alerts are traded again.")


async def _help(user: str, args: list[str]) -> Reply:
    return Reply(HELP)


_COMMANDS = {
    "status": _status,
    "positions": _positions,
    "pnl": _pnl,
    "close": _close,
    "closeall": _closeall,
    "pause": _pause,
    "resume": _resume,
    "help": _help,
}
