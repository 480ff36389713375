"""Small building blocks of the settings page: labelled fields, section cards, notices."""

from __future__ import annotations

import reflex as rx


def labelled(
    label: str, control: rx.Component, control_id: str, hint: str | rx.Component | None = None
) -> rx.Component:
    """A form field: a real `<label for>` above its control, and an optional hint below."""
    parts: list[rx.Component] = [
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=control_id),
        control,
    ]
    if hint is not None:
        parts.append(rx.text(hint, size="1", color_scheme="gray") if isinstance(hint, str) else hint)
    return rx.vstack(*parts, spacing="1", width="100%")


def text_input(control_id: str, **props: object) -> rx.Component:
    """A single-line input whose id and name are `control_id` (secrets: pass type="password")."""
    return rx.input(
        id=control_id, name=control_id, width="100%", auto_complete="off", spell_check=False, **props
    )


def section(
    icon: str, title: str, description: str, *children: rx.Component, section_id: str
) -> rx.Component:
    """One settings card with its heading and what it is for."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.center(
                    rx.icon(icon, size=18),
                    width="2.25em",
                    height="2.25em",
                    border_radius="var(--radius-3)",
                    background="var(--accent-3)",
                    color="var(--accent-11)",
                ),
                rx.vstack(
                    rx.heading(title, size="5", as_="h2"),
                    rx.text(description, size="2", color_scheme="gray"),
                    spacing="1",
                ),
                spacing="3",
                align="start",
            ),
            rx.separator(size="4"),
            *children,
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
        id=section_id,
    )


def error_notice(message: rx.Var, notice_id: str) -> rx.Component:
    """A red callout with `message`, shown only when there is one (role=alert for screen readers)."""
    return rx.cond(
        message != "",
        rx.callout(
            message, icon="triangle_alert", color_scheme="red", role="alert", id=notice_id, width="100%"
        ),
    )


def set_badge(set_at: rx.Var, what: str, badge_id: str) -> rx.Component:
    """ "<what> set on <date>" in green, or "<what> not set" in gray: saved secrets are never shown."""
    return rx.cond(
        set_at != "",
        rx.badge(
            rx.icon("lock", size=12), f"{what} set on ", set_at, color_scheme="green", size="2", id=badge_id
        ),
        rx.badge(f"{what} not set", color_scheme="gray", size="2", id=badge_id),
    )


def steps(*items: str) -> rx.Component:
    """A numbered how-to list."""
    return rx.el.ol(
        *[rx.el.li(rx.text(item, size="2")) for item in items],
        style={
            "paddingLeft": "1.5em",
            "margin": 0,
            "listStyleType": "decimal",
            "display": "grid",
            "gap": "0.25em",
        },
    )
