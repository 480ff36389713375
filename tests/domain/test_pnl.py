"""PnL for both directions with fees on both legs, averages, and the dashboard summary."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D

import pytest

from trading_app.domain.enums import PositionSide
from trading_app.domain.pnl import (
    average_entry,
    average_price,
    gross_pnl,
    realized_pnl,
    summarize,
    unrealized_pnl,
)

LONG, SHORT = PositionSide.LONG, PositionSide.SHORT


def test_long_win_pays_both_fees() -> None:
    # 0.01 ETH bought at 3000, sold at 3100: +1.00 gross, minus 0.015 + 0.0155 fees
    pnl = realized_pnl(LONG, D("3000"), D("3100"), D("0.01"), entry_fee=D("0.015"), exit_fee=D("0.0155"))
    assert pnl == D("0.9695")


def test_long_loss() -> None:
    assert realized_pnl(LONG, D("65000"), D("64000"), D("0.001"), entry_fee=D("0.03")) == D("-1.03")


def test_short_win_and_loss() -> None:
    assert realized_pnl(SHORT, D("3000"), D("2900"), D("0.5"), exit_fee=D("0.5")) == D("49.5")
    assert realized_pnl(SHORT, D("3000"), D("3050"), D("0.5")) == D("-25.0")


def test_rebates_add_to_the_result() -> None:
    pnl = realized_pnl(LONG, D("100"), D("100"), D("1"), entry_fee=D("-0.01"), exit_fee=D("-0.02"))
    assert pnl == D("0.03")


def test_exact_decimal_no_float_drift() -> None:
    assert gross_pnl(LONG, D("0.1"), D("0.3"), D("3")) == D("0.6")


def test_unrealized_at_mark() -> None:
    assert unrealized_pnl(LONG, D("3000"), D("3010.5"), D("2")) == D("21.0")
    assert unrealized_pnl(SHORT, D("3000"), D("3010.5"), D("2")) == D("-21.0")


def test_negative_or_nan_size_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        gross_pnl(LONG, D("1"), D("2"), D("-1"))
    with pytest.raises(ValueError):
        gross_pnl(LONG, D("1"), D("2"), D("NaN"))


def test_weighted_average_entry_for_adds() -> None:
    assert average_entry(D("1"), D("3000"), D("1"), D("3100")) == D("3050")
    assert average_entry(D("0.3"), D("100"), D("0.1"), D("200")) == D("125")


def test_average_price_over_partial_fills() -> None:
    assert average_price([(D("0.001"), D("65000")), (D("0.002"), D("65003"))]) == D("65002")
    with pytest.raises(ValueError):
        average_price([])
    with pytest.raises(ValueError):
        average_price([(D("0"), D("1"))])


@dataclass
class Row:
    realized_pnl: D | None
    fees: D = D(0)


def test_summary_counts_wins_losses_and_breakeven() -> None:
    summary = summarize(
        [
            Row(D("10"), D("0.5")),
            Row(D("-4"), D("0.4")),
            Row(D("0"), D("0.1")),
            Row(D("2.5"), D("0.2")),
            Row(None, D("9")),  # never filled: not a trade
        ]
    )
    assert (summary.trades, summary.wins, summary.losses, summary.breakeven) == (4, 2, 1, 1)
    assert summary.realized_total == D("8.5")
    assert summary.fees_total == D("1.2")
    assert summary.win_rate_pct == D("50.00")


def test_summary_of_nothing() -> None:
    summary = summarize([])
    assert summary.trades == 0 and summary.win_rate_pct is None and summary.realized_total == 0


def test_win_rate_rounds_to_hundredths() -> None:
    assert summarize([Row(D("1")), Row(D("-1")), Row(D("-1"))]).win_rate_pct == D("33.33")
