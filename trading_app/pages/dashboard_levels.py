"""Under a scaled position's row on `/dashboard`: its take-profit levels, the stop and its history.

The strings come from `scale_rows` (by position id in `DashboardState.levels` / `.stop_history`);
a position without a plan has no such row, so single-target positions look as before.
"""

from __future__ import annotations

import reflex as rx

from trading_app.pages.dashboard_state import DashboardState as S

LEVEL_COLORS = (("filled", "green"), ("part-filled", "amber"), ("re-placing", "amber"), ("cancelled", "gray"))
OUTCOME_COLORS = (("failed", "red"), ("deferred", "amber"), ("placing", "blue"))
_NUMS = {"fontVariantNumeric": "tabular-nums"}


def _label(text: str) -> rx.Component:
    # one width for the three labels: the levels, the stop and its history start in one column
    return rx.text(text, size="1", color_scheme="gray", weight="medium", min_width="6.5em")


def _level(row: rx.Var, level: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.text(level["label"], size="2", weight="bold"),
        rx.text(level["price"], size="2", style=_NUMS),
        rx.text("·", size="2", color_scheme="gray"),
        rx.text(level["size"], size="2", style=_NUMS),
        rx.badge(
            level["state_text"],
            color_scheme=rx.match(level["state"], *LEVEL_COLORS, "blue"),
            variant="soft",
            size="1",
        ),
        spacing="1",
        align="center",
        id="level-" + row["id"] + "-" + level["label"],
    )


def _step(step: rx.Var) -> rx.Component:
    # a collapsed run of trailing moves has no prices: only its count, in gray
    moved = rx.cond(step["from"] != "", step["from"] + " → " + step["to"], step["to"])
    return rx.cond(
        step["to"] == "",
        rx.text(step["reason"], size="1", color_scheme="gray", class_name="stop-step"),
        rx.hstack(
            rx.text(moved, size="1", style=_NUMS),
            rx.text(step["reason"], size="1", weight="medium"),
            rx.tooltip(rx.text(step["at"], size="1", color_scheme="gray", style=_NUMS), content=step["when"]),
            rx.cond(
                step["outcome"] != "",
                rx.badge(
                    step["outcome"],
                    color_scheme=rx.match(step["outcome"], *OUTCOME_COLORS, "gray"),
                    variant="soft",
                    size="1",
                    title=step["detail"],
                ),
            ),
            spacing="1",
            align="center",
            class_name="stop-step",
        ),
    )


def _stop(row: rx.Var) -> rx.Component:
    return rx.hstack(
        _label("Stop"),
        rx.text(row["stop"], size="2", weight="medium", color="var(--red-11)", style=_NUMS),
        rx.cond(
            row["stop_be"] != "",
            rx.badge(row["stop_be"], color_scheme="green", variant="soft", size="1", class_name="stop-be"),
        ),
        rx.cond(
            row["stop_trail"] != "",
            rx.badge(
                row["stop_trail"], color_scheme="blue", variant="soft", size="1", class_name="stop-trail"
            ),
        ),
        rx.cond(row["trail_best"] != "", rx.text(row["trail_best"], size="1", color_scheme="gray")),
        spacing="2",
        align="center",
        id="stop-" + row["id"],
    )


def scale_row(row: rx.Var) -> rx.Component:
    """The row under a scaled position (nothing for the others): levels, stop, stop history."""
    return rx.cond(
        row["scaled"] != "",
        rx.table.row(
            rx.table.cell(
                rx.flex(
                    rx.hstack(
                        _label("Levels"),
                        rx.foreach(S.levels[row["id"]], lambda level: _level(row, level)),
                        rx.text(row["plan"], size="1", color_scheme="gray"),
                        spacing="4",
                        align="center",
                        wrap="wrap",
                    ),
                    _stop(row),
                    rx.hstack(
                        _label("Stop history"),
                        rx.foreach(S.stop_history[row["id"]], _step),
                        spacing="3",
                        align="center",
                        wrap="wrap",
                        id="stop-history-" + row["id"],
                    ),
                    direction="column",
                    gap="2",
                ),
                col_span=10,
                padding_top="0",
                style={"borderTop": "none"},
            ),
            id="scale-" + row["id"],
        ),
    )
