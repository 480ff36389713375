"""The settings page's alert builder: the scale-out inputs reach the builder as typed (Reflex state,
no browser)."""

from __future__ import annotations

from decimal import Decimal as D

from tests.pages.support import ALICE, memory_app, sign_in, tab
from trading_app.pages.settings_alerts import BUILDER_FIELDS, AlertToolsState
from trading_app.services.intake.alert_tools import parse_choices

SCALE_OUT = {
    "tp_pct": "1, 3",
    "rr": "",
    "tp_split": "50, 50",
    "be_after_tp": "1",
    "trail_pct": "1",
    "trail_after_tp": "1",
}


async def test_the_scale_out_inputs_reach_the_builder(pg_url: str) -> None:
    token = await sign_in(ALICE)
    async with memory_app() as app, tab(app, "alice-1", token, AlertToolsState) as state:
        state.message = "an older message"
        for name, text in SCALE_OUT.items():
            AlertToolsState.set_field.fn(state, name, text)
        AlertToolsState.set_field.fn(state, "message", "not a field")  # ignored
        form = state._form()
        assert state.message == ""  # a shown message always matches the inputs
    assert set(form) == set(BUILDER_FIELDS) and {**form, **SCALE_OUT} == form
    choices, problems = parse_choices(form)
    assert problems == []
    assert (choices.tp_pct, choices.tp_more, choices.tp_split) == (D(1), (D(3),), (D(50), D(50)))
    assert (choices.be_after_tp, choices.trail_pct, choices.trail_after_tp) == (1, D(1), 1)
