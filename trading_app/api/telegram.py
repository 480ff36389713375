"""`POST /api/telegram/{hook_id}`: the updates Telegram delivers to a trader's bot webhook.

Telegram sends the secret token we gave it in setWebhook in the `X-Telegram-Bot-Api-Secret-Token`
header (https://core.telegram.org/bots/api#setwebhook); `services.notify.telegram_updates` checks
it in constant time against the stored digest. A wrong or missing secret, or an unknown hook id,
is 401 and runs nothing. Everything else is answered 200 once handled (Telegram repeats a delivery
until it gets a 2xx, so a failure inside is logged, not answered). The route is exempt from the
same-origin guard: Telegram's servers send no Origin.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trading_app.api.guards import BodyTooLarge, read_body
from trading_app.services.notify.telegram_updates import MAX_UPDATE_BYTES, webhook_update

SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name
_ERRORS = {400: "invalid_update", 401: "unauthorized", 413: "too_large"}


async def telegram_update(request: Request) -> Response:
    """One update for the bot behind `hook_id`."""
    try:
        body = await read_body(request, MAX_UPDATE_BYTES)
    except BodyTooLarge:
        return JSONResponse({"error": _ERRORS[413]}, status_code=413)
    status = await webhook_update(
        request.path_params["hook_id"][:64], request.headers.get(SECRET_HEADER), body
    )
    if status != 200:
        return JSONResponse({"error": _ERRORS.get(status, "error")}, status_code=status)
    return JSONResponse({"ok": True})


def routes() -> list[Route]:
    """The webhook route of every trader's bot."""
    return [Route("/api/telegram/{hook_id}", telegram_update, methods=["POST"])]
