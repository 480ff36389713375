"""Tables of rows (lists of dicts of display strings) with an empty state, and stat cards."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import reflex as rx

Column = tuple[str, str]  # (header text, "start" | "end")


def header_row(columns: Sequence[Column]) -> rx.Component:
    """The header row; numbers are right-aligned so their digits line up."""
    return rx.table.header(
        rx.table.row(
            *[
                rx.table.column_header_cell(text, justify=align, white_space="nowrap")
                for text, align in columns
            ]
        )
    )


def cell(value: rx.Var | str | rx.Component, align: str = "start", **props: object) -> rx.Component:
    """One body cell; numeric cells use tabular digits."""
    style = {"fontVariantNumeric": "tabular-nums"} if align == "end" else {}
    return rx.table.cell(value, justify=align, white_space="nowrap", style=style, **props)


def empty_state(icon: str, title: str, body: str, **props: object) -> rx.Component:
    """What a table shows when it has no rows."""
    return rx.center(
        rx.vstack(
            rx.center(
                rx.icon(icon, size=20),
                width="2.5em",
                height="2.5em",
                border_radius="50%",
                background="var(--gray-a3)",
                color="var(--gray-11)",
            ),
            rx.text(title, weight="medium"),
            rx.text(body, size="2", color_scheme="gray", text_align="center", max_width="36em"),
            align="center",
            spacing="2",
        ),
        padding_y="2.5em",
        width="100%",
        **props,
    )


def data_table(
    columns: Sequence[Column],
    rows: rx.Var,
    render_row: Callable[[rx.Var], rx.Component],
    empty: rx.Component,
    table_id: str,
) -> rx.Component:
    """`rows` as a table (one `render_row(row)` each), or `empty` when there are none."""
    return rx.cond(
        rows.length() > 0,
        rx.box(
            rx.table.root(
                header_row(columns),
                rx.table.body(rx.foreach(rows, render_row)),
                variant="ghost",
                size="2",
                width="100%",
                id=table_id,
            ),
            overflow_x="auto",
            width="100%",
        ),
        empty,
    )


def stat_card(
    title: str, value: rx.Component, hint: rx.Component | rx.Var | str | None = None, **props: object
) -> rx.Component:
    """A headline number with its label and an optional line under it."""
    parts: list[rx.Component] = [rx.text(title, size="2", color_scheme="gray", weight="medium"), value]
    if hint is not None:
        parts.append(hint if isinstance(hint, rx.Component) else rx.text(hint, size="1", color_scheme="gray"))
    return rx.card(rx.vstack(*parts, spacing="1"), size="2", width="100%", **props)


def panel(
    title: str, *children: rx.Component, action: rx.Component | None = None, **props: object
) -> rx.Component:
    """A titled card holding a table, a chart or a list."""
    heading = rx.hstack(
        rx.heading(title, size="4", as_="h2"),
        rx.spacer(),
        action or rx.fragment(),
        align="center",
        width="100%",
    )
    return rx.card(rx.vstack(heading, *children, spacing="3", width="100%"), size="2", width="100%", **props)
