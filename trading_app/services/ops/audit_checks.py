"""The money audit's per-field checks and what a breach says (pure: they read nothing).

`audit.breaches` composes them; kept apart so each module stays small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trading_app.db.models import Order, Position
from trading_app.domain import pnl
from trading_app.domain.enums import OrderRole, PositionSide, PositionStatus
from trading_app.domain.quantize import on_grid, to_usdc
from trading_app.venues.base import AccountState, Fill, MarketSpec

EXIT_ROLES = frozenset({OrderRole.STOP_LOSS.value, OrderRole.TAKE_PROFIT.value, OrderRole.CLOSE.value})

__all__ = ["EXIT_ROLES", "Breach", "grid_breaches", "realized_breaches"]


@dataclass(frozen=True)
class Breach:
    """One broken invariant, in words an operator can act on (no secrets)."""

    kind: str
    market: str
    detail: str
    position_id: int | None = None

    def __str__(self) -> str:
        where = f"position {self.position_id} " if self.position_id is not None else ""
        return f"{self.kind}: {where}{self.market}: {self.detail}"


def grid_breaches(
    positions: Sequence[Position], rows: Sequence[Order], state: AccountState, specs: Mapping[str, MarketSpec]
) -> list[Breach]:
    """Every quantity of the books and the venue's read on its market's grid."""
    found = []

    def check(
        market: str, what: str, value: Decimal | None, increment_of: str, position_id: int | None
    ) -> None:
        spec = specs.get(market)
        if spec is None or value is None or value == 0:
            return
        increment = spec.step_size if increment_of == "step" else spec.tick_size
        if not on_grid(value, increment):
            found.append(
                Breach(
                    "off_grid",
                    market,
                    f"{what} {value} is not a multiple of the {increment_of} {increment}",
                    position_id,
                )
            )

    for p in positions:
        check(p.market, "position size", p.size, "step", p.id)
        for name in ("sl_price", "tp_price"):
            check(p.market, name, getattr(p, name), "tick", p.id)
    for r in rows:
        check(r.market, f"{r.role.lower()} order size", r.size, "step", r.position_id)
        check(r.market, f"{r.role.lower()} filled size", r.filled_size, "step", r.position_id)
        check(r.market, f"{r.role.lower()} price", r.price, "tick", r.position_id)
        check(r.market, f"{r.role.lower()} trigger", r.trigger_price, "tick", r.position_id)
    for market, v in state.account.positions.items():
        check(market, "venue position size", v.size, "step", None)
    for o in state.open_orders:
        check(o.ref.market, "venue order size", o.size, "step", None)
        check(o.ref.market, "venue order trigger", o.trigger_price, "tick", None)
    return found


def realized_breaches(
    positions: Sequence[Position], by_position: Mapping[int | None, list[Order]], fills: Sequence[Fill]
) -> list[Breach]:
    """A closed position's realized PnL against the venue's fills of its own orders (positions whose
    exit came from fills that are not ours, an external close or a liquidation, are booked from
    those fills by the monitor and are not re-derived here)."""
    by_client: dict[tuple[int, str], list[Fill]] = {}
    for f in fills:
        by_client.setdefault((f.client_id, f.market), []).append(f)
    found = []
    for p in positions:
        if p.status != PositionStatus.CLOSED.value or p.realized_pnl is None or p.entry_price is None:
            continue
        mine = by_position.get(p.id, [])
        entries = [
            f
            for r in mine
            if r.role == OrderRole.ENTRY.value
            for f in by_client.get((r.client_id, p.market), [])
        ]
        exits = [f for r in mine if r.role in EXIT_ROLES for f in by_client.get((r.client_id, p.market), [])]
        exit_size = sum((f.size for f in exits), Decimal(0))
        entry_size = sum((f.size for f in entries), Decimal(0))
        if not entries or exit_size != p.size or entry_size != p.size:
            continue  # fills outside the window read, or an exit that was not our order
        # to the USDC quantum, as the books keep it: the fills' true result, without the averages' tail
        expected = to_usdc(
            pnl.realized_pnl(
                PositionSide(p.side),
                pnl.average_price((f.size, f.price) for f in entries),
                pnl.average_price((f.size, f.price) for f in exits),
                p.size,
                entry_fee=sum((f.fee for f in entries), Decimal(0)),
                exit_fee=sum((f.fee for f in exits), Decimal(0)),
            )
        )
        if expected != p.realized_pnl:
            found.append(
                Breach("realized_pnl", p.market, f"books say {p.realized_pnl}, the fills {expected}", p.id)
            )
    return found
