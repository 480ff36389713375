"""What an entry is checked and sized against: the account's facts, its risk settings, and the
exchange's own limits, and what the alert's story keeps of that sizing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from trading_app.db.engine import session_scope
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Position, TradingAccount
from trading_app.db.trading import positions_for_execution
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.intents import STATEFUL_PER_POSITION, AccountFacts, Intent, RiskLimits
from trading_app.domain.risk_settings import RiskSettings
from trading_app.domain.scale_out import ScalePlan
from trading_app.domain.signals import ParsedSignal
from trading_app.services.engine.trader import Trader
from trading_app.venues.base import MarketSpec

__all__ = [
    "StoredFacts",
    "account_facts",
    "check_order_room",
    "risk_limits",
    "sizing",
    "start_of_day",
    "stored_facts",
]


def risk_limits(account: TradingAccount | None) -> RiskLimits:
    """The engine's view of a user's saved risk settings (the engine's defaults without an account)."""
    return RiskLimits() if account is None else RiskSettings.of(account).limits()


@dataclass(frozen=True)
class StoredFacts:
    """What the database says about the trader's exposure (the venue adds the equity)."""

    open_positions: int
    realized_pnl_today: Decimal
    open_notional_usd: Decimal


def start_of_day() -> datetime:
    """Midnight UTC today: the daily loss limit counts from here."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def stored_facts(rows: list[Position], network: str, since: datetime) -> StoredFacts:
    """Facts from `positions_for_execution` rows (other rows in the list are ignored)."""
    mine = [p for p in rows if p.network == network]
    live = [p for p in mine if p.status in ACTIVE_POSITION_STATUSES]
    today = [
        p.realized_pnl
        for p in mine
        if p.closed_at is not None and p.closed_at >= since and p.realized_pnl is not None
    ]
    return StoredFacts(
        open_positions=len(live),
        realized_pnl_today=sum(today, Decimal(0)),
        open_notional_usd=sum((p.size * (p.entry_price or Decimal(0)) for p in live), Decimal(0)),
    )


async def account_facts(trader: Trader, stored: StoredFacts | None) -> AccountFacts:
    """The venue's equity with the stored exposure (read here when the caller has none)."""
    snapshot = await trader.venue.account()
    if stored is None:
        since = start_of_day()
        async with session_scope() as session:
            rows = await positions_for_execution(session, trader.user, trader.network, None, since)
        stored = stored_facts(rows, trader.network, since)
    return AccountFacts(
        equity=snapshot.equity,
        open_positions=stored.open_positions,
        realized_pnl_today=stored.realized_pnl_today,
        open_notional_usd=stored.open_notional_usd,
    )


async def check_order_room(trader: Trader, scale: ScalePlan) -> None:
    """Refuse a scale-out plan the exchange could not hold: dYdX caps a subaccount's open stateful
    (conditional) orders by its equity tier, and a plan keeps its levels, its stop and a stop being
    moved open at once. Refused before anything is sent, rather than a level refused after the fill.

    Raises:
        RiskRejected: ORDER_LIMIT, with both numbers.
    """
    budget = await trader.venue.order_budget()
    need = STATEFUL_PER_POSITION(scale)
    if budget is None or budget.max_open_stateful is None or need <= budget.max_open_stateful:
        return
    raise RiskRejected(
        RejectReason.ORDER_LIMIT,
        f"this plan keeps up to {need} stop and take-profit orders open; at its equity the exchange "
        f"allows this account {budget.max_open_stateful}",
    )


def sizing(
    parsed: ParsedSignal, limits: RiskLimits, facts: AccountFacts, intent: Intent, spec: MarketSpec
) -> dict[str, object]:
    """What the risk step used and computed for one entry, as the alert's story keeps it.

    `risk_usd` is the loss at the stop-loss for this size from the reference price (None
    without a stop); `equity` is the account's equity the sizing read.
    """
    mode, value = parsed.size_request or (limits.size_mode, limits.size_value)
    stop = intent.stop_loss
    return {
        "equity": facts.equity,
        "size_mode": mode.value,
        "size_value": value,
        "size": intent.size,
        "reference_price": intent.entry_price,
        "order_type": intent.order_type.value,
        "limit_price": intent.limit_price,
        "worst_price": intent.worst_price,
        "stop_loss": stop,
        "take_profit": intent.take_profit,
        "notional_usd": intent.notional_usd,
        "risk_usd": abs(intent.entry_price - stop) * intent.size if stop is not None else None,
        "leverage": intent.leverage.quantize(Decimal("0.0001")),
        "open_positions": facts.open_positions,
        # the market's grid, so the story shows these prices and sizes as the venue saw them
        "tick_size": spec.tick_size,
        "step_size": spec.step_size,
    }
