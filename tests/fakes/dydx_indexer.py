"""The fake indexer's account endpoints, served from a `DydxExchange` on a `FakeIndexer`.

    exchange = DydxExchange(fake_indexer)
    install_account_routes(fake_indexer, exchange)

Routes (real JSON shapes; numbers as strings where the real indexer sends strings):
- `GET /v4/orders?address&subaccountNumber[&status=A,B][&ticker][&side][&limit][&returnLatestOrders]`
  -> JSON list; 400 for a missing address or a non-boolean `returnLatestOrders` ("True").
- `GET /v4/orders/{uuid}` -> the order, 404 until it is indexed (lag) or if unknown; a short-term
  order reaches the indexer's PostgreSQL only from a fill (ender
  dydx_order_fill_handler_per_order.sql inserts; vulcan order-remove-handler.ts only updates), so an
  IOC that never filled is 404 for good (comlink orders-controller.ts "Unable to find order id").
- `GET /v4/fills?address&subaccountNumber[&market&marketType][&limit][&createdBeforeOrAtHeight]`
  -> `{"fills": [...]}` newest first; `market` without `marketType` is a 400, `ticker` is ignored
  (as the real indexer does, which is why the 1.1.5 wrapper's market filter does nothing).
- `GET /v4/addresses/{address}/subaccountNumber/{n}` -> `{"subaccount": {...}}`, 404 before funding.
- `GET /v4/height` -> `{"height", "time"}` of the last block the indexer processed.
Order statuses are the ones ender writes (OPEN, FILLED, CANCELED, BEST_EFFORT_CANCELED, UNTRIGGERED)
plus BEST_EFFORT_OPENED for a short-term order resting in the memclob (comlink
request-transformer.ts redisOrderToResponseObject); ERROR is declared in postgres order-types.ts but
nothing writes it, and the orders.status column cannot hold it, so it never appears.
Orders, fills and subaccount state appear once the indexer has processed the block that produced
them (`exchange.lag_blocks` / `lag_seconds` behind the chain); prices never move the chain here.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.fakes.indexer import FakeIndexer, FakeRequest, fmt

if TYPE_CHECKING:
    from tests.fakes.dydx_exchange import DydxExchange, SimOrder, SimPosition

NS = uuid.UUID("0f9da948-a6fb-4c45-9edc-4685c3f3317d")
BOOLEANS = ("true", "false", "1", "0")


def now_iso(ts: float | None = None) -> str:
    """The indexer's time format: ISO-8601 UTC with milliseconds and a Z."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def subaccount_uuid(owner: str, subaccount: int) -> str:
    return str(uuid.uuid5(NS, f"{owner}-{subaccount}"))


def order_uuid(key: tuple[str, int, int, int, int]) -> str:
    """Indexer order id of (owner, subaccount, client id, flags, clob pair)."""
    owner, subaccount, client_id, flags, clob = key
    return str(uuid.uuid5(NS, f"{subaccount_uuid(owner, subaccount)}-{client_id}-{clob}-{flags}"))


def order_json(order: SimOrder, status: str, height: int) -> dict[str, Any]:
    """An order as REST shows it: the PostgreSQL row through comlink's request-transformer.ts
    postgresOrderToResponseObject (db-model-types.ts OrderFromDatabase has no `removalReason`: that
    field exists only in websocket messages; null columns are dropped, as `?? undefined` does)."""
    kind = "LIMIT"  # ender dydx_protocol_convert_to_order_type.sql: flags 0 and 64 -> LIMIT
    if order.condition:
        kind = "STOP_LIMIT" if order.condition == "STOP_LOSS" else "TAKE_PROFIT"
    owner, subaccount, client_id, flags, clob = order.key
    body: dict[str, Any] = {
        "id": order.uuid, "subaccountId": subaccount_uuid(owner, subaccount), "clientId": str(client_id),
        "clobPairId": str(clob), "side": order.side, "size": fmt(order.size),
        "totalFilled": fmt(order.filled), "price": fmt(order.price), "type": kind, "status": status,
        "timeInForce": order.tif, "reduceOnly": order.reduce_only, "orderFlags": str(flags),
        "createdAtHeight": str(order.created_height), "clientMetadata": str(order.client_metadata),
        "updatedAt": now_iso(), "updatedAtHeight": str(height), "postOnly": order.tif == "POST_ONLY",
        "ticker": order.ticker, "subaccountNumber": subaccount,
    }
    if order.trigger is not None:
        body["triggerPrice"] = fmt(order.trigger)
    if order.gtb is not None:
        body["goodTilBlock"] = str(order.gtb)
    if order.gtbt is not None:
        body["goodTilBlockTime"] = now_iso(order.gtbt)
    return body


def fill_json(order: SimOrder, size: Decimal, price: Decimal, fee: Decimal, liquidity: str, height: int,
              created_at: str, fill_type: str = "LIMIT") -> dict[str, Any]:
    body = {
        "id": str(uuid.uuid4()), "side": order.side, "liquidity": liquidity, "type": fill_type,
        "market": order.ticker, "marketType": "PERPETUAL", "price": fmt(price), "size": fmt(size),
        "fee": fmt(fee), "affiliateRevShare": "0", "createdAt": created_at, "createdAtHeight": str(height),
        "orderId": order.uuid, "clientMetadata": str(order.client_metadata),
        "subaccountNumber": order.subaccount,
    }
    if fill_type != "LIMIT":  # the protocol's liquidation/deleveraging side has no order of the owner's
        body["orderId"] = None
    return body


def subaccount_json(owner: str, subaccount: int, usdc: Decimal, positions: dict[str, SimPosition],
                    prices: dict[str, Decimal], markets: dict[str, Any], height: int) -> dict[str, Any]:
    """`GET /v4/addresses/{a}/subaccountNumber/{n}`; `height` is the indexer's processed height."""
    equity, margin, open_positions = usdc, Decimal(0), {}
    for ticker, pos in positions.items():
        price = prices[ticker]
        equity += pos.size * price
        margin += abs(pos.size) * price * Decimal(markets[ticker]["initialMarginFraction"])
        open_positions[ticker] = {
            "market": ticker, "status": "OPEN", "side": "LONG" if pos.size > 0 else "SHORT",
            "size": fmt(pos.size), "maxSize": fmt(pos.size), "entryPrice": fmt(pos.entry), "exitPrice": None,
            "realizedPnl": fmt(pos.realized), "unrealizedPnl": fmt(pos.size * (price - pos.entry)),
            "createdAt": pos.created_at, "createdAtHeight": str(pos.created_height), "closedAt": None,
            "sumOpen": fmt(abs(pos.size)), "sumClose": "0", "netFunding": "0", "subaccountNumber": subaccount,
        }
    return {"subaccount": {
        "address": owner, "subaccountNumber": subaccount, "equity": fmt(equity),
        "freeCollateral": fmt(equity - margin), "openPerpetualPositions": open_positions,
        "assetPositions": {"USDC": {"size": fmt(abs(usdc)), "symbol": "USDC",
                                    "side": "LONG" if usdc >= 0 else "SHORT", "assetId": "0",
                                    "subaccountNumber": subaccount}},
        "marginEnabled": True, "updatedAtHeight": str(height), "latestProcessedBlockHeight": str(height),
    }}


def _error(status: int, msg: str) -> tuple[int, Any]:
    return status, {"errors": [{"msg": msg}]}


def install_account_routes(indexer: FakeIndexer, exchange: DydxExchange) -> None:
    """Register the account endpoints above on `indexer`, backed by `exchange`."""

    def orders(req: FakeRequest) -> tuple[int, Any]:
        address, number = req.query.get("address"), req.query.get("subaccountNumber")
        if not address or number is None or not number.isdigit():
            return _error(400, "address and subaccountNumber are required")
        if req.query.get("returnLatestOrders", "true") not in BOOLEANS:  # case-sensitive, like isBoolean
            return _error(400, "returnLatestOrders must be a boolean")
        found = exchange.visible_orders(address, int(number))
        if "status" in req.query:
            wanted = set(req.query["status"].split(","))
            found = [o for o in found if o["status"] in wanted]
        for param, key in (("ticker", "ticker"), ("side", "side")):
            if param in req.query:
                found = [o for o in found if o[key] == req.query[param]]
        found.sort(key=lambda o: int(o["updatedAtHeight"]), reverse=True)
        return 200, found[: int(req.query.get("limit", 1000))]

    def order(req: FakeRequest) -> tuple[int, Any]:
        body = exchange.visible_order(req.match["id"])
        return (200, body) if body else _error(404, f"No order found with id {req.match['id']}")

    def fills(req: FakeRequest) -> tuple[int, Any]:
        address, number = req.query.get("address"), req.query.get("subaccountNumber")
        if not address or number is None or not number.isdigit():
            return _error(400, "address and subaccountNumber are required")
        if ("market" in req.query) != ("marketType" in req.query):
            return _error(400, "market and marketType must be provided together")
        found = exchange.visible_fills(address, int(number))
        if "market" in req.query:
            found = [f for f in found if f["market"] == req.query["market"]]
        if "createdBeforeOrAtHeight" in req.query:
            cap = int(req.query["createdBeforeOrAtHeight"])
            found = [f for f in found if int(f["createdAtHeight"]) <= cap]
        found = list(reversed(found))  # newest first
        return 200, {"fills": found[: int(req.query.get("limit", 1000))]}

    def subaccount(req: FakeRequest) -> tuple[int, Any]:
        body = exchange.visible_subaccount(req.match["addr"], int(req.match["n"]))
        if body is None:
            return _error(404, f"No subaccount found with address {req.match['addr']} and "
                               f"subaccountNumber {req.match['n']}")
        return 200, body

    def height(req: FakeRequest) -> tuple[int, Any]:
        # utility-controller.ts: the latest block the indexer has processed, not the chain's
        return 200, {"height": str(exchange.indexer_height()), "time": now_iso(exchange.block_time)}

    indexer.register("GET", r"/v4/orders", orders)
    indexer.register("GET", r"/v4/orders/(?P<id>[0-9a-fA-F-]+)", order)
    indexer.register("GET", r"/v4/fills", fills)
    indexer.register("GET", r"/v4/addresses/(?P<addr>[^/]+)/subaccountNumber/(?P<n>\d+)", subaccount)
    indexer.register("GET", r"/v4/height", height)
