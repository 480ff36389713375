"""Risk checks and sizing: from a parsed alert to a validated order intent on the market's grid.

`build_intent` is the only way an entry reaches a venue: it sizes, quantizes (through
`domain.quantize`) and checks, or raises `RiskRejected` with a reason the trader sees.

Rounding decisions, all in the trader's favour or towards safety:
- the stop-loss is rounded AWAY from the entry (a long's stop down, a short's up), so the
  stop is never tighter than asked and can never collapse onto or through the entry;
  risk-percent sizing then divides by this rounded, wider distance, so the loss at the
  stop stays within the risk budget;
- the take-profit is rounded to the nearest tick and must still be strictly beyond entry;
- a limit entry price is rounded in the trader's favour (BUY down, SELL up): the order
  never pays more than the alert asked;
- the size is rounded down: never more exposure than asked.

Every entry needs a stop-loss unless `RiskLimits.require_stop_loss` is off: the service
never leaves a filled position without protection, so refusing up front is clearer than
opening and then flattening.
"""

from __future__ import annotations

from decimal import Decimal

from trading_app.domain.enums import OrderType, PositionSide, Side, SizeMode
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.intents import AccountFacts, CloseIntent, Intent, LevelPlan, MarketRules, RiskLimits
from trading_app.domain.quantize import (
    PriceRounding,
    close_size,
    on_grid_nearest,
    quantize_price,
    quantize_size,
    slippage_bound,
)
from trading_app.domain.scale_out import ScalePlan, plan_of, target_prices, trail_stop
from trading_app.domain.signals import ParsedSignal
from trading_app.domain.sizing import position_size, stop_loss_price, take_profit_price

__all__ = [
    "build_close",
    "build_intent",
    "protection_levels",
    "validate_protection",
]


def _beyond(side: PositionSide, price: Decimal, reference: Decimal, *, favourable: bool) -> bool:
    # favourable: where a take-profit belongs (above a long's entry); otherwise where a stop belongs
    above = price > reference
    below = price < reference
    return (above if favourable else below) if side is PositionSide.LONG else (below if favourable else above)


def validate_protection(
    side: PositionSide,
    reference: Decimal,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    tick: Decimal | None = None,
) -> None:
    """Check a stop-loss and take-profit sit on the right sides of a reference price.

    A long needs `stop_loss < reference < take_profit`, a short the reverse. dYdX does not
    check this at placement, and a trigger already "through" the price fires at once.
    Services call this again with the actual fill price before placing protection.

    Args:
        side, reference, stop_loss, take_profit: The position's direction and prices.
        tick: The market's tick: the reason names the reference on it (the trader reads the
            reason in the alert log and on Telegram; an oracle price has more digits).

    Raises:
        RiskRejected: SL_WRONG_SIDE or TP_WRONG_SIDE.
    """
    shown = on_grid_nearest(reference, tick)
    word = "below" if side is PositionSide.LONG else "above"
    if stop_loss is not None and not _beyond(side, stop_loss, reference, favourable=False):
        raise RiskRejected(
            RejectReason.SL_WRONG_SIDE, f"a {side.value.lower()} needs its stop-loss {word} {shown}"
        )
    opposite = "above" if side is PositionSide.LONG else "below"
    if take_profit is not None and not _beyond(side, take_profit, reference, favourable=True):
        raise RiskRejected(
            RejectReason.TP_WRONG_SIDE, f"a {side.value.lower()} needs its take-profit {opposite} {shown}"
        )


def _check_market(market: MarketRules | None, ticker: str) -> MarketRules:
    if market is None or market.ticker != ticker:
        raise RiskRejected(RejectReason.UNKNOWN_MARKET, f"{ticker} is not listed on this venue")
    if not market.is_active:
        raise RiskRejected(RejectReason.MARKET_INACTIVE, f"{ticker} is not active")
    return market


_CENT = Decimal("0.01")


def _usd(amount: Decimal) -> str:
    return f"-${-amount:,}" if amount < 0 else f"${amount:,}"


def _check_account(limits: RiskLimits, account: AccountFacts) -> None:
    loss_limit = limits.daily_loss_limit_usd
    if loss_limit is not None and account.realized_pnl_today <= -loss_limit:
        pnl, limit = (on_grid_nearest(v, _CENT) for v in (account.realized_pnl_today, loss_limit))
        detail = f"today's realized PnL {_usd(pnl)} reached the limit of -${limit:,}"
        raise RiskRejected(RejectReason.DAILY_LOSS_LIMIT, detail)
    if account.open_positions >= limits.max_open_positions:
        detail = f"{account.open_positions} positions open (limit {limits.max_open_positions})"
        raise RiskRejected(RejectReason.MAX_OPEN_POSITIONS, detail)
    if not account.equity.is_finite() or account.equity <= 0:
        raise RiskRejected(RejectReason.INSUFFICIENT_EQUITY, f"equity is {account.equity}")


def _entry(signal: ParsedSignal, side: PositionSide, market: MarketRules) -> Decimal:
    if signal.order_type is OrderType.LIMIT:
        if signal.price is None:
            raise RiskRejected(RejectReason.INVALID_PRICE, "a limit order needs a price")
        favourable = PriceRounding.DOWN if side is PositionSide.LONG else PriceRounding.UP
        return quantize_price(signal.price, market.tick_size, favourable)
    oracle = market.oracle_price
    if not oracle.is_finite() or oracle <= 0:
        raise RiskRejected(RejectReason.PRICE_UNAVAILABLE, f"no usable price for {market.ticker}")
    return oracle


def protection_levels(
    side: PositionSide, reference: Decimal, tick: Decimal, plan: LevelPlan
) -> tuple[Decimal | None, Decimal | None]:
    """The stop-loss and take-profit of `plan` on the tick, measured from `reference`.

    Used with the planned entry by `build_intent`, and with the average fill by
    `domain.levels.levels_from_fill`. The stop rounds away from the reference, the target to
    the nearest tick.

    Args:
        side: The position's direction.
        reference: The price the relative levels are measured from.
        tick: The market's tick size.
        plan: How the trader gave each level.

    Returns:
        (stop, target), either None when not asked for.

    Raises:
        RiskRejected: SL_WRONG_SIDE, TP_WRONG_SIDE, INVALID_PRICE, or STOP_REQUIRED for `rr`
            without a stop.
    """
    raw_sl = stop_loss_price(side, reference, sl=plan.sl, sl_pct=plan.sl_pct)
    validate_protection(side, reference, raw_sl, None, tick)
    stop = None
    if raw_sl is not None:
        if raw_sl <= 0:
            raise RiskRejected(RejectReason.INVALID_PRICE, f"stop-loss {raw_sl} is not a positive price")
        away = PriceRounding.DOWN if side is PositionSide.LONG else PriceRounding.UP
        stop = quantize_price(raw_sl, tick, away)
    raw_tp = take_profit_price(side, reference, tp=plan.tp, tp_pct=plan.tp_pct, rr=plan.rr, stop_price=stop)
    validate_protection(side, reference, None, raw_tp, tick)
    if raw_tp is None:
        return stop, None
    if raw_tp <= 0:
        raise RiskRejected(RejectReason.INVALID_PRICE, f"take-profit {raw_tp} is not a positive price")
    target = quantize_price(raw_tp, tick)
    if not _beyond(side, target, reference, favourable=True):
        # only a take-profit within half a tick of the entry gets here
        shown = on_grid_nearest(reference, tick)
        detail = f"take-profit {raw_tp} rounds to {target} on the {tick} tick, which is not beyond {shown}"
        raise RiskRejected(RejectReason.TP_WRONG_SIDE, detail)
    return stop, target


def _plan(signal: ParsedSignal, limits: RiskLimits, mode: SizeMode) -> LevelPlan:
    plan = LevelPlan.of(
        sl=signal.sl,
        sl_pct=signal.sl_pct,
        tp=signal.tp,
        tp_pct=signal.tp_pct,
        rr=signal.rr,
        default_sl_pct=limits.default_sl_pct,
    )
    if not plan.has_stop and (limits.require_stop_loss or mode is SizeMode.RISK_PCT):
        raise RiskRejected(RejectReason.STOP_REQUIRED, "send sl or sl_pct with the alert")
    return plan


def build_intent(
    signal: ParsedSignal,
    market: MarketRules | None,
    limits: RiskLimits,
    account: AccountFacts,
    *,
    side: PositionSide | None = None,
) -> Intent:
    """Size, quantize and check one entry.

    Args:
        signal: The parsed alert (its sizing, order type and protection fields).
        market: The venue's rules for `signal.market`, or None when the venue has no such market.
        limits: The user's risk settings.
        account: Equity, open positions and today's realized PnL.
        side: The direction to open; defaults to the alert's (needed for REVERSE).

    Returns:
        An intent whose size and prices are all on the market's grid.

    Raises:
        RiskRejected: with the reason the entry was refused.
        ValueError: no side was given for a CLOSE or REVERSE alert (a programming error).
    """
    side = side if side is not None else signal.position_side
    if side is None:
        raise ValueError(f"a {signal.action.value} alert opens nothing by itself; pass the side")
    market = _check_market(market, signal.market)
    _check_account(limits, account)
    mode, value = signal.size_request or (limits.size_mode, limits.size_value)
    entry = _entry(signal, side, market)
    plan = _plan(signal, limits, mode)
    # risk-percent sizing divides by this planned stop: the size is decided before the fill
    stop, target = protection_levels(side, entry, market.tick_size, plan)
    scale, targets = _scale(signal, side, entry, market.tick_size, stop)
    raw_size = position_size(mode, value, entry_price=entry, equity=account.equity, stop_price=stop)
    size = quantize_size(raw_size, market.step_size, minimum=market.min_size)

    notional = size * entry
    if limits.max_notional_usd is not None and notional > limits.max_notional_usd:
        detail = f"notional {notional:.2f} USD is above the limit of {limits.max_notional_usd}"
        raise RiskRejected(RejectReason.NOTIONAL_LIMIT, detail)
    leverage = (account.open_notional_usd + notional) / account.equity
    if leverage > limits.max_leverage:
        detail = f"account leverage would be {leverage:.2f}x (limit {limits.max_leverage}x)"
        raise RiskRejected(RejectReason.LEVERAGE_LIMIT, detail)

    entry_side: Side = side.entry_side
    if signal.order_type is OrderType.LIMIT:
        worst = entry
    else:
        worst = slippage_bound(entry, entry_side, limits.slippage_pct, market.tick_size)
    return Intent(
        market=market.ticker,
        side=side,
        order_type=signal.order_type,
        size=size,
        entry_price=entry,
        worst_price=worst,
        limit_price=entry if signal.order_type is OrderType.LIMIT else None,
        stop_loss=stop,
        take_profit=target,
        stop_loss_worst=_exit_bound(stop, side, limits, market.tick_size),
        take_profit_worst=_exit_bound(target, side, limits, market.tick_size),
        notional_usd=notional,
        leverage=leverage,
        levels=plan,
        scale=scale,
        targets=targets,
    )


def _scale(
    signal: ParsedSignal, side: PositionSide, entry: Decimal, tick: Decimal, stop: Decimal | None
) -> tuple[ScalePlan, tuple[Decimal, ...]]:
    """The alert's scale-out plan and every level's price from the planned entry, checked.

    Absolute `tp` levels are checked for side and order here (the format cannot: it does not know
    the side); a trailing distance that would put the stop at or below zero is refused.
    """
    scale = plan_of(signal)
    targets = target_prices(side, entry, tick, scale, stop)
    if scale.trailing:
        try:
            trail_stop(side, entry, scale, tick)
        except RiskRejected as e:
            detail = f"the trailing distance from {entry} leaves no positive stop price"
            raise RiskRejected(RejectReason.INVALID_PRICE, detail) from e
    return scale, targets


def _exit_bound(
    trigger: Decimal | None, side: PositionSide, limits: RiskLimits, tick: Decimal
) -> Decimal | None:
    if trigger is None:
        return None
    return slippage_bound(trigger, side.exit_side, limits.protection_slippage_pct, tick)


def build_close(
    market: MarketRules | None, side: PositionSide, size: Decimal, limits: RiskLimits
) -> CloseIntent:
    """A reduce-only market order that closes a position of `side` and `size`.

    The market's status is not checked: closing stays allowed in close-only markets.
    The size is rounded UP to the step (reduce-only caps it at the position).

    Raises:
        RiskRejected: UNKNOWN_MARKET, PRICE_UNAVAILABLE, INVALID_SIZE.
    """
    if market is None:
        raise RiskRejected(RejectReason.UNKNOWN_MARKET, "the position's market is not listed on this venue")
    oracle = market.oracle_price
    if not oracle.is_finite() or oracle <= 0:
        raise RiskRejected(RejectReason.PRICE_UNAVAILABLE, f"no usable price for {market.ticker}")
    return CloseIntent(
        market=market.ticker,
        side=side,
        size=close_size(size, market.step_size),
        worst_price=slippage_bound(oracle, side.exit_side, limits.slippage_pct, market.tick_size),
    )
