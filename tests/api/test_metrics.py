"""`GET /metrics`: 404 without METRICS_TOKEN, 401 without the right Bearer token, Prometheus text with it;
the webhook's outcomes and accept latency are counted."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from tests.api.webhook_support import client, make_hook
from tests.conftest import reset_app_caches
from trading_app.services.intake import dispatch

TOKEN = "m3trics-token-for-tests"  # noqa: S105 - made up


def use_token(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    if token is None:
        monkeypatch.delenv("METRICS_TOKEN", raising=False)
    else:
        monkeypatch.setenv("METRICS_TOKEN", token)
    reset_app_caches()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_are_not_served_without_a_configured_token(monkeypatch: pytest.MonkeyPatch) -> None:
    use_token(monkeypatch, None)
    async with client() as c:
        r = await c.get("/metrics", headers={"authorization": "Bearer anything"})
    assert r.status_code == 404 and "trading_" not in r.text


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"],
)
async def test_metrics_refuse_a_missing_or_wrong_token(
    monkeypatch: pytest.MonkeyPatch, authorization: str | None
) -> None:
    use_token(monkeypatch, TOKEN)
    headers = {} if authorization is None else {"authorization": authorization}
    async with client() as c:
        r = await c.get("/metrics", headers=headers)
    assert r.status_code == 401 and "trading_" not in r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    reset_app_caches()


async def test_webhook_outcomes_and_latency_are_counted_and_served(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_token(monkeypatch, TOKEN)
    hook = await make_hook()
    before = {
        o: sample("trading_alerts_total", outcome=o)
        for o in ("accepted", "duplicate", "unauthorized", "invalid")
    }
    latency_before = sample("trading_webhook_accept_seconds_count")
    async with client() as c:
        body = hook.text()
        assert (await c.post(hook.path, content=body)).status_code == 202
        assert (await c.post(hook.path, content=body)).status_code == 200  # the same alert again
        assert (await c.post(hook.path, json=hook.body(secret="wrong"))).status_code == 401
        assert (await c.post(hook.path, json=hook.body(action="fly"))).status_code == 422
        r = await c.get("/metrics", headers={"authorization": f"bearer {TOKEN}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    for outcome in before:
        assert sample("trading_alerts_total", outcome=outcome) == before[outcome] + 1, outcome
    assert sample("trading_webhook_accept_seconds_count") == latency_before + 4
    assert 'trading_alerts_total{outcome="accepted"}' in r.text
    assert "trading_webhook_accept_seconds_bucket" in r.text and "trading_websocket_clients" in r.text
    assert TOKEN not in r.text and hook.secret not in r.text
    # the accepted alert's execution runs on: finished here, not on a closed loop's database thread
    await dispatch.drain()
    reset_app_caches()
