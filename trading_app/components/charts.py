"""Charts (Recharts through `rx.recharts`)."""

from __future__ import annotations

import reflex as rx

# Axis ticks in dollars ("$1,250", "-$0.25", "-$0.50"): a JS function, run by Recharts in the browser on the
# chart's own float coordinates (never money the app reads back)
USD_TICK = (
    "(v) => (v < 0 ? '-$' : '$') + Math.abs(v).toLocaleString('en-US', "
    "Number.isInteger(v) ? {} : {minimumFractionDigits: 2, maximumFractionDigits: 2})"
)
# The tooltip shows the point's exact text from the server ("+$12.30"), not the float
TEXT_TOOLTIP = "(value, name, item) => [item && item.payload ? item.payload.text : value, name]"


def equity_curve(points: rx.Var, **props: object) -> rx.Component:
    """Cumulative realized PnL after each closed trade.

    `points` is a list of `{"label": str, "equity": number, "text": str}` with distinct labels
    (`views.equity_points`); the chart needs numbers, the axis shows dollars and the tooltip the exact
    text. A zero line marks break-even.
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
        rx.recharts.x_axis(
            data_key="label", tick_line=False, axis_line=False, tick={"fontSize": 11}, min_tick_gap=24
        ),
        rx.recharts.y_axis(
            tick_line=False, axis_line=False, tick={"fontSize": 11}, width=72, tick_formatter=USD_TICK
        ),
        rx.recharts.reference_line(y=0, stroke="var(--gray-a8)"),
        rx.recharts.graphing_tooltip(custom_attrs={"formatter": rx.Var(_js_expr=TEXT_TOOLTIP)}),
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
