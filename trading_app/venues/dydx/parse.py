"""Pure: dYdX indexer JSON -> venue value types. Numbers are strings -> Decimal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, overload

from dydx_v4_client import OrderFlags

from trading_app.domain.enums import OrderStatus, OrderType, PositionSide, Side
from trading_app.venues.base import (
    AccountSnapshot,
    Fill,
    MarketSpec,
    OrderRef,
    OrderReport,
    VenuePosition,
)
from trading_app.venues.errors import VenueUnavailable

OPEN_STATUSES = ("OPEN", "UNTRIGGERED")


@overload
def dec(value: Any, default: Decimal) -> Decimal: ...
@overload
def dec(value: Any, default: None = None) -> Decimal | None: ...
def dec(value: Any, default: Decimal | None = None) -> Decimal | None:
    """Decimal from an indexer string (never through float); None/"" -> default."""
    if value is None or value == "":
        return default
    return Decimal(str(value))


def amount(value: Any) -> Decimal:
    """Decimal from a field the indexer always sends.

    The comlink response types declare these `string`, never optional
    (dydxprotocol/v4-chain indexer/services/comlink/src/types.ts: PerpetualMarketResponseObject
    stepSize/tickSize, OrderResponseObject via OrderFromDatabase size, FillResponseObject
    size/price, PerpetualPositionResponseObject size/entryPrice). A response without one is
    malformed: raise rather than carry a None into a Decimal field. It is treated like the
    indexer's 5xx (`errors.error_for_http`): the venue is unavailable for now, nothing is decided.

    Raises:
        VenueUnavailable: the value is missing or empty.
    """
    if value is None or value == "":
        raise VenueUnavailable("dYdX indexer answer lacks a required amount")
    return Decimal(str(value))


def parse_time(value: str | None) -> datetime | None:
    """Parse the indexer's ISO-8601 times ("...Z") as aware UTC datetimes."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def moment(value: str) -> datetime:
    """`parse_time` for a time the indexer always sends (a fill's `createdAt`: IsoString in
    comlink/src/types.ts FillResponseObject).

    Raises:
        VenueUnavailable: the value is missing or empty (see `amount`).
    """
    parsed = parse_time(value)
    if parsed is None:
        raise VenueUnavailable("dYdX indexer answer lacks a required time")
    return parsed


def iso(value: datetime) -> str:
    """Render a datetime the way the indexer accepts it in a query (UTC, no '+')."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def market_spec(data: dict[str, Any]) -> MarketSpec:
    """One entry of `GET /v4/perpetualMarkets` -> MarketSpec."""
    return MarketSpec(
        ticker=data["ticker"],
        status=data.get("status", "UNKNOWN"),
        step_size=amount(data["stepSize"]),
        tick_size=amount(data["tickSize"]),
        oracle_price=dec(data.get("oraclePrice"), Decimal(0)),
        clob_pair_id=int(data["clobPairId"]),
        atomic_resolution=int(data["atomicResolution"]),
        step_base_quantums=int(data["stepBaseQuantums"]),
        subticks_per_tick=int(data["subticksPerTick"]),
        quantum_conversion_exponent=int(data["quantumConversionExponent"]),
        initial_margin_fraction=dec(data.get("initialMarginFraction")),
    )


def order_type(data: dict[str, Any]) -> OrderType:
    """Our order type from the indexer's flags/type (it reports market orders as LIMIT)."""
    flags = int(data.get("orderFlags", 0))
    kind = data.get("type", "LIMIT")
    if flags == OrderFlags.CONDITIONAL:
        return OrderType.TAKE_PROFIT_MARKET if kind.startswith("TAKE_PROFIT") else OrderType.STOP_MARKET
    if flags == OrderFlags.SHORT_TERM and data.get("timeInForce") == "IOC":
        return OrderType.MARKET
    return OrderType.LIMIT


def order_status(data: dict[str, Any], filled: Decimal) -> OrderStatus:
    """Normalise an indexer REST status to ours, for a *stateful* order (the venue decides
    short-term orders from their fills once their good-til-block has passed).

    - REST order objects carry no `removalReason` (indexer/packages/postgres/src/types/
      db-model-types.ts OrderFromDatabase; it is a websocket-only field), so a stateful CANCELED is
      EXPIRED only when it was removed at or after its good-til-block-time (an expiry; a cancel
      cannot land once the order is past its time: keeper/stateful_order_state.go).
    - ERROR is declared in the indexer's OrderStatus enum (postgres/src/types/order-types.ts, added
      with TWAP support) but nothing writes it: ender's handlers set OPEN / UNTRIGGERED / FILLED /
      CANCELED / BEST_EFFORT_CANCELED, and the orders.status column's enum
      (migrations 20230726191736_add_orders_status_untriggered.ts) cannot hold it. If it ever
      appears, the order is not working: REJECTED, so protection is replaced rather than counted.
    """
    status = data.get("status", "")
    if status in ("OPEN", "BEST_EFFORT_OPENED"):
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    if status == "UNTRIGGERED":
        return OrderStatus.UNTRIGGERED
    if status == "FILLED":
        return OrderStatus.FILLED
    if status in ("CANCELED", "BEST_EFFORT_CANCELED"):
        return OrderStatus.EXPIRED if _removed_at_expiry(data) else OrderStatus.CANCELED
    if status == "ERROR":
        return OrderStatus.REJECTED
    return OrderStatus.PENDING


def _removed_at_expiry(data: dict[str, Any]) -> bool:
    until, removed = parse_time(data.get("goodTilBlockTime")), parse_time(data.get("updatedAt"))
    return until is not None and removed is not None and removed >= until


def order_filled(data: dict[str, Any]) -> bool:
    """The indexed order has filled its whole size (no copy of the id can fill more)."""
    size = dec(data.get("size")) or Decimal(0)
    return size > 0 and (dec(data.get("totalFilled")) or Decimal(0)) >= size


def ref_from_order(data: dict[str, Any]) -> OrderRef:
    """An OrderRef rebuilt from an indexer order (for orders found by listing)."""
    gtbt = parse_time(data.get("goodTilBlockTime"))
    gtb = data.get("goodTilBlock")
    return OrderRef(
        client_id=int(data["clientId"]),
        market=data["ticker"],
        order_type=order_type(data),
        order_flags=int(data.get("orderFlags", 0)),
        clob_pair_id=int(data.get("clobPairId", 0)),
        subaccount=int(data.get("subaccountNumber", 0)),
        good_til_block=int(gtb) if gtb not in (None, "") else None,
        good_til_block_time=int(gtbt.timestamp()) if gtbt else None,
        venue_order_id=data["id"],
    )


def order_report(data: dict[str, Any], ref: OrderRef, fills: list[Fill] | None = None,
                 status: OrderStatus | None = None) -> OrderReport:
    """Indexer order (+ its fills, for price and fee) -> OrderReport (`status` overrides the map)."""
    filled = dec(data.get("totalFilled"), Decimal(0))
    own = fills or []
    size_sum = sum((f.size for f in own), Decimal(0))
    avg = sum((f.size * f.price for f in own), Decimal(0)) / size_sum if size_sum else None
    return OrderReport(
        ref=ref,
        status=status or order_status(data, filled),
        side=Side(data["side"]),
        size=amount(data["size"]),
        filled=filled,
        avg_fill_price=avg,
        fee=sum((f.fee for f in own), Decimal(0)),
        trigger_price=dec(data.get("triggerPrice")),
        reduce_only=bool(data.get("reduceOnly", False)),
    )


def fill(data: dict[str, Any], client_id: int) -> Fill:
    """One `/v4/fills` entry -> Fill (`client_id` resolved by the caller from orderId)."""
    return Fill(
        fill_id=data["id"],
        client_id=client_id,
        market=data["market"],
        side=Side(data["side"]),
        size=amount(data["size"]),
        price=amount(data["price"]),
        fee=dec(data.get("fee"), Decimal(0)),
        time=moment(data["createdAt"]),
        liquidity=data.get("liquidity", "TAKER"),
        fill_type=data.get("type", "LIMIT"),
    )


def position(data: dict[str, Any]) -> VenuePosition:
    """One `openPerpetualPositions` entry -> VenuePosition (the indexer signs short sizes)."""
    return VenuePosition(
        market=data["market"],
        side=PositionSide(data["side"]),
        size=abs(amount(data["size"])),
        entry_price=amount(data["entryPrice"]),
        unrealized_pnl=dec(data.get("unrealizedPnl"), Decimal(0)),
    )


def account_snapshot(subaccount: dict[str, Any] | None) -> AccountSnapshot:
    """`GET /v4/addresses/{a}/subaccountNumber/{n}` -> AccountSnapshot (None: never funded)."""
    if not subaccount:
        return AccountSnapshot(equity=Decimal(0), free_collateral=Decimal(0), positions={})
    positions = {}
    for ticker, data in (subaccount.get("openPerpetualPositions") or {}).items():
        if data.get("status", "OPEN") == "OPEN" and dec(data.get("size"), Decimal(0)) != 0:
            positions[ticker] = position({"market": ticker, **data})
    return AccountSnapshot(
        equity=dec(subaccount.get("equity"), Decimal(0)),
        free_collateral=dec(subaccount.get("freeCollateral"), Decimal(0)),
        positions=positions,
    )
