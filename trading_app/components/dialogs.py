"""A confirmation dialog in front of anything that cannot be undone."""

from __future__ import annotations

import reflex as rx


def confirm(
    trigger: rx.Component,
    title: str | rx.Var,
    body: str | rx.Var | rx.Component,
    confirm_label: str,
    on_confirm: object,
    confirm_id: str | rx.Var | None = None,
    dismiss_label: str = "Cancel",
) -> rx.Component:
    """`trigger` opens a dialog; only its red confirm button runs `on_confirm` (`dismiss_label` names
    the button that closes it, when "Cancel" would read as the action itself)."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(body),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button(dismiss_label, variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(confirm_label, color_scheme="red", on_click=on_confirm, id=confirm_id)
                ),
                spacing="3",
                justify="end",
                margin_top="1em",
            ),
            max_width="28em",
        ),
    )
