"""Error reports: off without SENTRY_DSN; with it, an error in a route reaches a local fake Sentry
with the request id and without any secret (the body, the cookie, the Authorization header, the
exception's text, the frame's local variables and the log breadcrumbs all held one)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import sentry_sdk
from starlette.requests import Request
from starlette.responses import Response

from tests.conftest import reset_app_caches
from tests.fakes import sentry as sentry_fake
from tests.fakes.indexer import FakeIndexer
from tests.fakes.sentry import FakeSentry
from tests.services.engine_support import LONG_BTC, make_signal, make_user
from tests.services.settings_support import new_mnemonic
from trading_app.api.app import build_api
from trading_app.api.request_context import request_context
from trading_app.api.security import security_headers
from trading_app.services.engine import executor
from trading_app.services.ops.errors import configure_error_reports
from trading_app.services.ops.logs import short_address

fake_sentry = sentry_fake.fake_sentry  # the fixture, used by name
TOKEN = "7012345678:AAF3kq_Zx9-made-up-token-0123456789ab"  # noqa: S105 - made up
WEBHOOK_SECRET = "wh-secret-5bd1e2c4a9"  # noqa: S105
SESSION = "sess-9f8e7d6c5b4a"
BEARER = "bearer-0a1b2c3d4e5f"  # noqa: S105


@pytest.fixture
def no_sentry_dsn(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    reset_app_caches()
    yield
    reset_app_caches()


def _app_with_a_failing_route(phrase: str) -> object:
    api = build_api()

    async def fails(request: Request) -> Response:
        body = (await request.body()).decode()  # the alert, its secret inside
        bot_token, mnemonic = TOKEN, phrase  # secrets in the frame's scope
        logging.getLogger("trading_app.test").warning("about to use %s with %s", bot_token, mnemonic)
        raise RuntimeError(f"could not use bot{bot_token} for {mnemonic}; body was {body}")

    api.add_route("/ops-test/fails", fails, methods=["POST"])
    return request_context()(security_headers(False)(api))


async def _hit(app: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        return await c.post(
            "/ops-test/fails",
            content=f'{{"secret": "{WEBHOOK_SECRET}", "action": "buy"}}',
            headers={
                "content-type": "application/json",
                "cookie": f"ta_session={SESSION}",
                "authorization": f"Bearer {BEARER}",
                "x-request-id": "req-sentry-1",
            },
        )


def test_error_reports_are_off_without_a_dsn(no_sentry_dsn: None) -> None:
    assert configure_error_reports() is False
    assert not sentry_sdk.get_client().is_active()


async def test_an_error_in_a_route_arrives_with_its_request_id_and_no_secret(
    no_sentry_dsn: None, fake_sentry: FakeSentry
) -> None:
    phrase = new_mnemonic()
    assert configure_error_reports(fake_sentry.dsn) is True
    response = await _hit(_app_with_a_failing_route(phrase))
    sentry_sdk.flush(timeout=5)
    assert response.status_code == 500
    [event] = [e for e in fake_sentry.events if e.get("exception")]
    [error] = event["exception"]["values"]
    assert error["type"] == "RuntimeError" and "[REDACTED]" in error["value"]
    assert event["tags"]["request_id"] == "req-sentry-1"
    assert not {"data", "cookies", "headers"} & set(event.get("request", {}))
    raw = fake_sentry.raw().decode()
    for secret in (TOKEN, phrase, WEBHOOK_SECRET, SESSION, BEARER):
        assert secret not in raw
    for word_run in (" ".join(phrase.split()[:12]),):
        assert word_run not in raw


async def test_the_fake_sees_secrets_when_nothing_scrubs_them(fake_sentry: FakeSentry) -> None:
    """The control: the same failure reported without `before_send` does leak (the test above can fail)."""
    phrase = new_mnemonic()
    sentry_sdk.init(dsn=fake_sentry.dsn, send_default_pii=False)
    await _hit(_app_with_a_failing_route(phrase))
    sentry_sdk.flush(timeout=5)
    raw = fake_sentry.raw().decode()
    assert TOKEN in raw and phrase in raw


async def test_an_execution_that_fails_is_reported_with_its_signal_and_trader(
    no_sentry_dsn: None, fake_sentry: FakeSentry, db_url: str, paper_market: FakeIndexer
) -> None:
    """An error inside an execution (here: a stored alert that no longer parses) reaches Sentry
    tagged with the signal and the trader it ran for."""
    from sqlalchemy import update

    from trading_app.db.engine import session_scope
    from trading_app.db.models import Signal

    assert configure_error_reports(fake_sentry.dsn) is True
    user = await make_user(951)
    sid = await make_signal(user, LONG_BTC)
    async with session_scope() as session:
        corrupt = update(Signal).where(Signal.id == sid).values(parsed="{not json")  # type: ignore[arg-type]
        await session.execute(corrupt)
    await executor.execute_signal(sid)
    sentry_sdk.flush(timeout=5)
    reports = [e for e in fake_sentry.events if "execution failed" in str(e.get("logentry"))]
    assert reports, fake_sentry.events
    tags = reports[0]["tags"]
    assert (tags["signal_id"], tags["user"]) == (str(sid), short_address(user))
