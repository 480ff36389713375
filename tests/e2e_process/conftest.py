"""Fixtures for the tests against the real app process: fakes, databases, the running backend.

- `outside` (module): a FakeIndexer (the paper venue's prices) and a FakeTelegram, both real HTTP
  servers on loopback, shared by every app process of the module.
- `shared_app` (module): one backend process on a database of its own, reused by the tests that
  need no restart. `app` (function) points this test process's settings at that database.
- `app_factory` (function): processes on the test's own `pg_url` database, for restart tests;
  every process it made is stopped at teardown.

The test process reads and writes the same database through the app's own services (after
`reset_app_caches()`), so users and webhook secrets are made exactly as sign-in makes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_BASE, _pg_admin, reset_app_caches
from tests.e2e_process.app_process import AppProcess, app_env, free_port
from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram


@dataclass
class Outside:
    indexer: FakeIndexer
    telegram: FakeTelegram


@dataclass
class Running:
    """A started app and what it talks to."""

    process: AppProcess
    database_url: str
    indexer: FakeIndexer
    telegram: FakeTelegram

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    with FakeIndexer() as indexer, FakeTelegram() as telegram:
        yield Outside(indexer, telegram)


def _process(workdir: Path, database_url: str, outside: Outside) -> AppProcess:
    port = free_port()
    env = app_env(database_url, port, PAPER_PRICE_SOURCE=outside.indexer.url,
                  TELEGRAM_API_BASE_URL=outside.telegram.base_url)
    return AppProcess(workdir, env, port)


def point_settings_at(monkeypatch: pytest.MonkeyPatch, process: AppProcess) -> None:
    """This test process uses the app's database, price source, Telegram and public URL."""
    for name in ("DATABASE_URL", "PAPER_PRICE_SOURCE", "TELEGRAM_API_BASE_URL", "API_URL", "PUBLIC_URL"):
        monkeypatch.setenv(name, process.env[name])
    reset_app_caches()


@pytest.fixture(scope="module")
def shared_app(
    pg_template: str, outside: Outside, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    name = f"e2ep_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = f"postgresql+psycopg://{PG_BASE.split('://', 1)[1]}/{name}"
    process = _process(tmp_path_factory.mktemp("shared-app"), url, outside)
    try:
        process.start().wait_ready()
        yield Running(process, url, outside.indexer, outside.telegram)
    finally:
        process.stop()
        reset_app_caches()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def app(shared_app: Running, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    """The shared app process, with this test process's settings pointed at its database."""
    assert shared_app.process.proc is not None and shared_app.process.proc.poll() is None, "the app died"
    point_settings_at(monkeypatch, shared_app.process)
    yield shared_app
    shared_app.indexer.up()  # a test that took the venue down must not leave it down
    reset_app_caches()


@pytest.fixture
def app_factory(
    pg_url: str, outside: Outside, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], Running]]:
    """Make (unstarted) app processes on this test's database; all are stopped at teardown."""
    made: list[AppProcess] = []

    def make() -> Running:
        process = _process(tmp_path / f"app-{len(made)}", pg_url, outside)
        made.append(process)
        point_settings_at(monkeypatch, process)
        return Running(process, pg_url, outside.indexer, outside.telegram)

    yield make
    for process in made:
        process.stop()
    outside.indexer.up()


@pytest.fixture
def answers() -> Iterator[list[httpx.Response]]:
    """Every response a test got (through `support.post`): none may be a 5xx, whatever the test."""
    seen: list[httpx.Response] = []
    yield seen
    assert [r.status_code for r in seen if r.status_code >= 500] == []
