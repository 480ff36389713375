"""Health endpoints and the security headers on every response."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import reset_app_caches
from trading_app.api.app import build_api
from trading_app.api.security import security_headers


def client(production: bool = False) -> httpx.AsyncClient:
    app = security_headers(production)(build_api())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_live_answers_ok_with_security_headers() -> None:
    async with client() as c:
        r = await c.get("/health/live")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "strict-transport-security" not in r.headers


async def test_hsts_only_in_production() -> None:
    async with client(production=True) as c:
        r = await c.get("/health/live")
    assert r.headers["strict-transport-security"].startswith("max-age=")


async def test_ready_reports_each_component(db_url: str) -> None:
    async with client() as c:
        r = await c.get("/health/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["status"] == "ok"
    assert "redis" not in body["components"]


async def test_ready_is_503_when_the_database_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:hunter2@127.0.0.1:1/nowhere")
    reset_app_caches()
    async with client() as c:
        r = await c.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["components"]["database"]["status"] == "error"
    assert "hunter2" not in r.text and "127.0.0.1" not in r.text
    reset_app_caches()


async def test_ready_checks_redis_when_configured(db_url: str, redis_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    reset_app_caches()
    async with client() as c:
        assert (await c.get("/health/ready")).json()["components"]["redis"] == {"status": "ok"}
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reset_app_caches()
    async with client() as c:
        r = await c.get("/health/ready")
    assert r.status_code == 503 and r.json()["components"]["redis"]["status"] == "error"
