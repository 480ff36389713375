"""Charts (Recharts through `rx.recharts`)."""

from __future__ import annotations

import reflex as rx


def equity_curve(points: rx.Var, **props: object) -> rx.Component:
    """Cumulative realized PnL after each closed trade.

    `points` is a list of `{"label": str, "equity": number, "text": str}`; the chart needs numbers,
    the tooltip shows the exact text. A zero line marks break-even.
    """
    return rx.recharts.area_chart(
        rx.el.defs(
            rx.el.linear_gradient(
                rx.el.stop(offset="5%", stop_color="var(--accent-9)", stop_opacity=0.35),
                rx.el.stop(offset="95%", stop_color="var(--accent-9)", stop_opacity=0.02),
                id="equity-fill",
                x1=0,
                y1=0,
                x2=0,
                y2=1,
            )
        ),
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False, stroke="var(--gray-a5)"),
        rx.recharts.x_axis(data_key="label", tick_line=False, axis_line=False, font_size=11, min_tick_gap=24),
        rx.recharts.y_axis(tick_line=False, axis_line=False, font_size=11, width=64),
        rx.recharts.reference_line(y=0, stroke="var(--gray-a8)"),
        rx.recharts.graphing_tooltip(),
        rx.recharts.area(
            data_key="equity",
            name="Realized PnL (USD)",
            type_="linear",
            stroke="var(--accent-9)",
            stroke_width=2,
            fill="url(#equity-fill)",
            dot=False,
            is_animation_active=False,
        ),
        data=points,
        height=240,
        width="100%",
        margin={"top": 8, "right": 8, "left": 0, "bottom": 0},
        **props,
    )
