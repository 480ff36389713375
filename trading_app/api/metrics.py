"""`GET /metrics`: Prometheus' text format, for the operator's scraper only.

Never world-readable: without `METRICS_TOKEN` the route answers 404 (as if it did not exist);
with it, a request must carry `Authorization: Bearer <METRICS_TOKEN>` (compared in constant
time), else 401. See README, "Operations".
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trading_app.services.ops import metrics
from trading_app.settings import get_settings

_NO_STORE = {"cache-control": "no-store"}


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest on bytes: constant time whatever the given value is (any length, any text)
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def metrics_endpoint(request: Request) -> Response:
    secret = get_settings().metrics_token
    token = secret.get_secret_value() if secret is not None else ""
    if not token:
        return JSONResponse({"error": "not_found"}, status_code=404, headers=_NO_STORE)
    if not _authorized(request, token):
        headers = {**_NO_STORE, "www-authenticate": 'Bearer realm="metrics"'}
        return JSONResponse({"error": "unauthorized"}, status_code=401, headers=headers)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type, headers=_NO_STORE)


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]
