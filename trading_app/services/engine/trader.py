"""Who trades where, and the one way the engine changes a position (along its lifecycle)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_rows import update_by
from trading_app.db.engine import session_scope
from trading_app.db.models import Position, TradingAccount
from trading_app.db.trading import get_position
from trading_app.domain.clock import utcnow
from trading_app.domain.lifecycle import POSITION, transition
from trading_app.domain.story import Phase
from trading_app.services.engine.claims import Claim
from trading_app.services.engine.timeline import Timeline
from trading_app.venues.base import Venue


@dataclass
class Trader:
    """Who is trading where: the user, the network, their venue, settings and how to tell them."""

    user: str
    network: str
    venue: Venue
    account: TradingAccount | None
    notify: object  # TelegramNotifier-like: notify_soon(user, kind, event)
    claim: Claim | None = None  # the executing signal's claim, kept alive while the engine waits
    # the phases of the alerts this trader acts for, written with the engine's next transaction
    timeline: Timeline = field(default_factory=Timeline)

    def mark(self, signal_id: int | None, phase: Phase, detail: Mapping[str, object] | None = None) -> None:
        """Remember a phase of the signal's story (written with the next transaction that flushes)."""
        self.timeline.mark(self.user, signal_id, phase, detail)

    async def keep_claim(self) -> bool:
        """Keep the executing signal's claim fresh; False once another worker took it over."""
        return True if self.claim is None else await self.claim.keep()

    @property
    def slippage_pct(self) -> Decimal:
        return self.account.slippage_pct if self.account is not None else Decimal(1)

    def tell(self, event: object) -> None:
        self.notify.notify_soon(self.user, event.kind, event)  # type: ignore[attr-defined]


async def update_position(trader: Trader, position_id: int, **changes: Any) -> Position:
    """Change one of the trader's positions; a `status` change must follow the lifecycle table."""
    async with session_scope() as session:
        return await change_position_in(session, trader, position_id, **changes)


async def change_position_in(
    session: AsyncSession, trader: Trader, position_id: int, *, expect: str | None = None, **changes: Any
) -> Position:
    """`update_position` inside the caller's transaction (the row is locked until it commits).

    `expect` is the status the caller read the position with: then a status change is
    checked against the lifecycle from it, and applied by one UPDATE only while the row still
    has it. When the row moved on meanwhile (another actor closed, flattened or opened it), the
    caller's view is stale: nothing is changed, and the row is returned as it now is, for the
    caller to see. Without `expect`, the row is read under a lock and the change checked against
    what it really is.
    """
    target = changes.pop("status", None)
    if target is None or expect is not None:
        values: dict[str, object] = {**changes, "updated_at": utcnow()}
        where: dict[str, object] = {"id": position_id, "user_address": trader.user}
        if target is not None and target != expect:
            values["status"] = transition(POSITION, str(expect), str(target)).value
            where["status"] = expect
        done = await update_by(session, Position, where, values)
        if done is not None:
            return done
        assert target is not None, f"position {position_id} of {trader.user} not found"
        moved = await get_position(session, trader.user, position_id)
        assert moved is not None
        return moved  # a stale caller changes nothing (it would undo another actor's move)
    position = await get_position(session, trader.user, position_id, for_update=True)
    assert position is not None
    if target is not None and target != position.status:
        position.status = transition(POSITION, position.status, str(target)).value
    for key, value in changes.items():
        setattr(position, key, value)
    position.updated_at = utcnow()
    session.add(position)
    return position


__all__ = ["Trader", "change_position_in", "update_position"]
