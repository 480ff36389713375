"""`/health/live` and `/health/ready`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trading_app.services.ops.health import readiness


async def live(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(_request: Request) -> JSONResponse:
    ok, components = await readiness()
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "components": components},
        status_code=200 if ok else 503,
    )


routes = [
    Route("/health/live", live, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
