"""The story of an alert: phases in time order (ties in the phases' own order), the end of each status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trading_app.domain.story import LABELS, Phase, Step, end_phase, phase_of, timeline

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def test_every_phase_has_words_and_every_status_an_end() -> None:
    assert set(LABELS) == set(Phase)
    assert [end_phase(s) for s in ("EXECUTED", "REJECTED", "FAILED", "EXECUTING", "CANCELLED")] == [
        Phase.EXECUTED, Phase.REJECTED, Phase.FAILED, Phase.IN_DOUBT, Phase.CANCELLED
    ]  # fmt: skip
    assert end_phase("SOMETHING_NEW") is Phase.ENDED
    assert phase_of("filled") is Phase.FILLED and phase_of("from_a_newer_writer") is None


def test_steps_are_ordered_by_time_then_by_phase() -> None:
    same = T0 + timedelta(milliseconds=5)
    recorded = [
        Step(Phase.PUSHED, T0 + timedelta(seconds=1)),
        Step(Phase.TP_PLACED, same),
        Step(Phase.STOP_PLACED, same),
        Step(Phase.CLAIMED, T0 + timedelta(milliseconds=2)),
    ]
    phases = [s.phase for s in timeline(T0, T0 + timedelta(milliseconds=1), "EXECUTED", None, recorded)]
    assert phases == [Phase.RECEIVED, Phase.STORED, Phase.CLAIMED, Phase.STOP_PLACED, Phase.TP_PLACED,
                      Phase.PUSHED]  # fmt: skip
    # an alert stored before the stored time was kept starts at received
    assert [s.phase for s in timeline(T0, None, "ACCEPTED", None, [])] == [Phase.RECEIVED]
