"""The servers bench/webhook.py runs under granian (kept apart so granian imports nothing else)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

WEBHOOK_ROUTE = "/api/webhooks/signal/{webhook_uuid}"


def bare_app() -> Starlette:
    """The baseline: same route and answer shape, no work (granian imports this factory)."""

    async def accept(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "accepted", "signal_id": 0}, status_code=202)

    async def live(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route(WEBHOOK_ROUTE, accept, methods=["POST"]), Route("/health/live", live)])


def frozen_app() -> Starlette:
    """The real API after `gc.collect(); gc.freeze()` (the --freeze-gc lever): the objects made at
    start-up leave the collector's generations, so collections stop re-scanning them."""
    import gc

    from trading_app.api.app import build_api

    app = build_api()
    gc.collect()
    gc.freeze()
    return app
