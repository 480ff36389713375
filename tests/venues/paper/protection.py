"""The paper venue's witness for "never a moment without a stop": positions vs stop-loss orders.

Paper books change only when a transaction commits, so a sample after each step of a test sees
every state the steps produced. `stopless_now` reads the user's tables directly (no trigger
processing, no venue code): a position is covered when a live reduce-only STOP_MARKET order on its
exit side (SELL for a long) still has at least the position's size to fill, as
tests/fakes/dydx_protection.py checks on the fake chain.
"""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import col, select

from tests.fakes.dydx_protection import StoplessMoment
from trading_app.db.engine import session_scope
from trading_app.db.models import PaperOrder, PaperPosition

LIVE = ("OPEN", "UNTRIGGERED", "PARTIALLY_FILLED")


async def stopless_now(user: str, ticker: str, sample: int = 0) -> StoplessMoment | None:
    """The user's `ticker` position if no stop-loss covers it now (`sample` stands for the height)."""
    async with session_scope() as session:
        found = await session.exec(
            select(PaperPosition).where(PaperPosition.user_address == user, PaperPosition.market == ticker)
        )
        position = found.first()
        if position is None or position.size == 0:
            return None
        exit_side = "SELL" if position.size > 0 else "BUY"
        stops = await session.exec(
            select(PaperOrder).where(
                PaperOrder.user_address == user,
                PaperOrder.market == ticker,
                PaperOrder.order_type == "STOP_MARKET",
                PaperOrder.side == exit_side,
                PaperOrder.reduce_only == True,  # noqa: E712 - a SQL expression
                col(PaperOrder.status).in_(LIVE),
            )
        )
        covered = max((o.size - o.filled for o in stops.all()), default=Decimal(0))
    size = abs(position.size)
    return None if covered >= size else StoplessMoment(sample, size, covered)


class PaperStopWatch:
    """Samples `stopless_now` on demand and keeps every stop-less sample since `start`."""

    def __init__(self) -> None:
        self.samples = 0
        self.moments: list[StoplessMoment] = []

    def start(self) -> None:
        self.samples, self.moments = 0, []

    async def sample(self, user: str, ticker: str) -> list[StoplessMoment]:
        self.samples += 1
        moment = await stopless_now(user, ticker, self.samples)
        if moment is not None:
            self.moments.append(moment)
        return list(self.moments)
