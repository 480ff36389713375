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


def api_app() -> object:
    """The real API as production serves it, minus Reflex's own routes: `build_api()` behind the
    security-headers and request-id middlewares, an executor registered for the hand-off after each
    202 (a no-op: the engine's work is not part of the accept path, the task per accepted alert is), and the
    garbage collector set up at start-up as the app's lifespan task does (startup_gc)."""
    from trading_app.api.app import build_api
    from trading_app.api.request_context import request_context
    from trading_app.api.security import security_headers
    from trading_app.services.intake import dispatch
    from trading_app.startup_gc import freeze_startup_heap

    async def execute(_signal_id: int) -> None:
        return None

    dispatch.set_executor(execute)
    # the request-id middleware outermost, as trading_app.py mounts it
    app = request_context()(security_headers(production=True)(build_api()))
    freeze_startup_heap()
    return app


def unfrozen_api_app() -> object:
    """`api_app` without the start-up garbage-collector set-up (`gc.freeze()` and thresholds):
    the --no-freeze-gc lever, for A/B runs."""
    import gc

    app = api_app()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)  # Python's defaults
    return app
