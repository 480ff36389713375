"""From an alert's story (`services.engine.alert_story`) to the display strings of `/alerts/[id]`.

Pure functions (no I/O, no Reflex), unit-tested directly. Amounts stay Decimal until they become
text here; the stored detail of a phase holds exact decimal strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from trading_app.components import format as fmt
from trading_app.domain.masking import mask_body
from trading_app.domain.reasons import explain
from trading_app.domain.story import Phase, Step
from trading_app.pages import scale_rows
from trading_app.services.engine.alert_story import AlertStory, OrderLine
from trading_app.services.engine.scale_view import ScaleView

Row = dict[str, str]

# the parsed alert's fields in the order a trader writes them
_PARSED_ORDER = (
    "action",
    "market",
    "order_type",
    "price",
    "size",
    "size_usd",
    "risk_pct",
    "sl",
    "sl_pct",
    "tp",
    "tp_pct",
    "rr",
    "tp_more",
    "tp_split",
    "be_after_tp",
    "trail_pct",
    "trail",
    "trail_after_tp",
    "alert_id",
    "timestamp",
)
_SIZE_MODES = {
    "size": "Fixed size",
    "size_usd": "USD notional",
    "equity_pct": "% of equity",
    "risk_pct": "% of equity at risk",
}


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _num(value: object) -> str:
    return fmt.number(_decimal(value))


def _usd(value: object) -> str:
    return fmt.money(_decimal(value))


def clock(moment: datetime) -> str:
    """`14:05:03.123 UTC`: a phase's time to the millisecond."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def since(start: datetime, moment: datetime) -> str:
    """`+12 ms`, `+1.25 s`: how long after the alert arrived."""
    ms = max(0, int((moment - start).total_seconds() * 1000))
    return f"+{ms} ms" if ms < 1000 else f"+{ms / 1000:.2f} s"


def sent(body: str) -> tuple[str, str]:
    """The action and ticker as the trader wrote them in the (masked) body, for an alert refused
    before it parsed; "" when the body says none (not JSON, no such key, not text)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(payload, dict):
        return "", ""

    def first(*keys: str) -> str:
        value = next((payload[k] for k in keys if isinstance(payload.get(k), str)), "")
        return value.strip()[:32]

    return first("action", "side"), first("market", "ticker", "symbol")


def header(story: AlertStory) -> Row:
    """The alert itself: what it asked (as sent, when it never parsed), when, what became of it."""
    action, market = sent(story.payload) if story.parsed is None else ("", "")
    return {
        "id": str(story.id),
        "status": story.status,
        "status_text": fmt.label(story.status),
        "action": (story.action or action).upper() or fmt.DASH,
        "market": story.market or market or fmt.DASH,
        "received": fmt.when(story.received_at),
        # plain words first, the code in brackets (as the alert log and Telegram say it)
        "reason": explain(story.reason, story.status).text if story.reason else "",
        "position": str(story.position_id) if story.position_id is not None else "",
        "source_ip": story.source_ip or fmt.DASH,
        "paper": "Test alert (paper)" if story.paper else "",
    }


def payload(story: AlertStory) -> str:
    """The body as stored (masked at the door), masked once more to be sure."""
    return mask_body(story.payload)


def parsed_rows(story: AlertStory) -> list[Row]:
    """The parsed alert as field/value pairs, in a fixed order."""
    parsed = dict(story.parsed or {})
    # levels 2..4 are stored apart (`tp_more`); shown with level 1 under the name the trader wrote
    first = next((k for k in ("tp", "tp_pct", "rr") if k in parsed), None)
    if first is not None and parsed.get("tp_more"):
        parsed[first] = f"{parsed[first]}, {parsed.pop('tp_more')}"
    known = [k for k in _PARSED_ORDER if k in parsed]
    return [{"field": k, "value": parsed[k]} for k in [*known, *sorted(set(parsed) - set(known))]]


def sizing_rows(sizing: Mapping[str, object] | None) -> list[Row]:
    """What the risk step used and computed at the time, in words."""
    if not sizing:
        return []
    mode = str(sizing.get("size_mode") or "")
    value = sizing.get("size_value")
    requested = f"{_SIZE_MODES.get(mode, mode)}: {_num(value)}" if mode else fmt.DASH
    tick, step = _decimal(sizing.get("tick_size")), _decimal(sizing.get("step_size"))

    def price(key: str) -> str:  # on the tick when the grid was recorded (older stories: as stored)
        return fmt.number(_decimal(sizing.get(key)), tick) if tick else _num(sizing.get(key))

    rows = [
        ("Equity used", _usd(sizing.get("equity"))),
        ("Sizing", requested),
        ("Size", fmt.number(_decimal(sizing.get("size")), step) if step else _num(sizing.get("size"))),
        ("Reference price", price("reference_price")),
        ("Notional", _usd(sizing.get("notional_usd"))),
        ("Risk at the stop-loss", _usd(sizing.get("risk_usd"))),
        ("Account leverage after", f"{_num(sizing.get('leverage'))}x"),
        # from the reference price: sl_pct, tp_pct and rr are measured again from the average
        # fill, so the triggers placed (the orders) can differ; the trader must not read these as them
        ("Planned stop-loss", price("stop_loss")),
        ("Planned take-profit", price("take_profit")),
        ("Order", fmt.label(str(sizing.get("order_type") or ""))),
    ]
    return [{"label": k, "value": v} for k, v in rows]


def order_row(line: OrderLine) -> Row:
    """One order placed for the alert."""
    return {
        "id": str(line.id),
        # a scaled position's take-profit orders are told apart by their level
        "role": fmt.label(line.role) + (f" {line.level}" if line.level else ""),
        "type": fmt.label(line.order_type),
        "side": line.side,
        "size": fmt.number(line.size, line.step_size),
        "price": fmt.number(line.price, line.tick_size),
        "trigger": fmt.number(line.trigger_price, line.tick_size),
        "filled": fmt.number(line.filled_size, line.step_size),
        "avg": fmt.number(line.avg_fill_price, line.tick_size),
        "status": line.status,
        "status_text": fmt.label(line.status),
        "venue_id": line.venue_order_id or line.tx_hash or fmt.DASH,
        "client_id": str(line.client_id),
    }


def _grid(story: AlertStory) -> tuple[Decimal | None, Decimal | None]:
    """The market's (tick, step) the story's numbers are shown on: the sizing's, else an order's."""
    sizing = story.sizing or {}
    tick, step = _decimal(sizing.get("tick_size")), _decimal(sizing.get("step_size"))
    for order in story.orders:
        tick, step = tick or order.tick_size, step or order.step_size
    return tick, step


def _step_detail(step: Step, tick: Decimal | None = None, size_step: Decimal | None = None) -> str:
    d = step.detail

    def price(key: str) -> str:  # on the tick when it is known (older stories: as stored)
        return fmt.number(_decimal(d.get(key)), tick) if tick else _num(d.get(key))

    def size() -> str:
        return fmt.number(_decimal(d.get("size")), size_step) if size_step else _num(d.get("size"))

    ids = " · ".join(
        f"{name} {d[key]}"
        for key, name in (("venue_order_id", "venue id"), ("client_id", "client id"))
        if d.get(key)
    )
    match step.phase:
        case Phase.CLAIMED:
            return f"attempt {d.get('attempt', 1)}"
        case Phase.RISK_PASSED:
            return f"size {size()} · equity {_usd(d.get('equity'))}"
        case Phase.FILLED:
            return f"{size()} at {price('price')} · fee {_usd(d.get('fee'))}"
        case Phase.STOP_PLACED | Phase.TP_PLACED:
            level = f"level {d['level']}" if d.get("level") else ""  # a scaled take-profit's own level
            amount = f"{size()} at trigger" if d.get("size") else "trigger"  # older rows: no size
            return " · ".join(w for w in (level, f"{amount} {price('trigger_price')}", ids) if w)
        case Phase.ENTRY_SENT:
            return f"{fmt.label(str(d.get('order_type') or ''))} · {ids}"
        case Phase.REJECTED | Phase.FAILED | Phase.IN_DOUBT | Phase.EXECUTED | Phase.CANCELLED | Phase.ENDED:
            position = f"position #{d['position_id']}" if d.get("position_id") else ""
            why = explain(str(d["reason"]), step.phase.value.upper()).text if d.get("reason") else ""
            words = [why or fmt.label(str(d.get("status") or "")), position]
            return " · ".join(w for w in words if w and w != fmt.DASH)
    return ""


def step_rows(story: AlertStory) -> list[Row]:
    """The timeline: each phase, its time, how long after arrival, and what it recorded."""
    tick, size_step = _grid(story)
    return [
        {
            "phase": step.phase.value,
            "label": step.label,
            "at": clock(step.at),
            "since": since(story.received_at, step.at),
            "detail": _step_detail(step, tick, size_step),
        }
        for step in story.timeline
    ]


def stop_rows(scale: ScaleView | None) -> list[Row]:
    """The whole stop history of the alert's scaled position, oldest first (none for a single target):
    the dashboard collapses trailing moves; the story shows every one, each with its outcome."""
    if scale is None:
        return []
    rows = scale_rows.history_rows(scale, scale.tick_size, keep=len(scale.history))
    for row in rows:  # the dashboard leaves a move that happened unmarked; a table says it
        row["outcome"] = row["outcome"] or ("placed" if row["reason"] == "initial" else "moved")
    return rows
