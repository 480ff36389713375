"""Error reports to Sentry (sentry-sdk), only when `SENTRY_DSN` is set, with every secret scrubbed.

`before_send` is the last look at an event before it leaves the process: request bodies,
cookies and headers are dropped whole (a webhook body holds its secret, a cookie is a session),
and every remaining string (messages, exception values, local variables of the frames, log
breadcrumbs) goes through `redact_secrets`, by shape; a value under a key that names a secret is
replaced whole. sentry-sdk's own scrubber (`send_default_pii=False`) runs as well.
"""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk

from trading_app.services.ops.logs import current_context
from trading_app.services.ops.redaction import redact_value
from trading_app.settings import get_settings

log = logging.getLogger(__name__)

_DROPPED_REQUEST_KEYS = ("data", "cookies", "headers", "env", "query_string")


def scrub_event(event: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_send`: the event without request bodies, cookies, headers, and no secret-shaped text."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in _DROPPED_REQUEST_KEYS:
            request.pop(key, None)
    ids = current_context()
    if ids:  # the request, user, signal and position the failing code ran for
        event.setdefault("tags", {}).update(ids)
    scrubbed = redact_value(event)
    assert isinstance(scrubbed, dict)
    return scrubbed


def configure_error_reports(dsn: str | None = None) -> bool:
    """Start Sentry when a DSN is configured (argument, else `SENTRY_DSN`).

    Returns:
        True when error reports are on.
    """
    settings = get_settings()
    if dsn is None and settings.sentry_dsn is not None:
        dsn = settings.sentry_dsn.get_secret_value()
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=settings.app_env,
        send_default_pii=False,
        # request bodies never leave (before_send drops what is left anyway)
        max_request_body_size="never",
        traces_sample_rate=0.0,
        before_send=scrub_event,  # type: ignore[arg-type]
    )
    log.info("error reports: Sentry is on")
    return True


__all__ = ["configure_error_reports", "scrub_event"]
