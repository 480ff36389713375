"""Shared fixtures: real PostgreSQL, real Redis, migrated SQLite, isolated settings.

PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are required: when either is
unreachable the run fails, it never skips.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN_DSN.rsplit("/", 1)[0]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Test defaults, set before anything imports the settings: never write .env, never reach out.
TEST_MASTER_KEYS = {"1": base64.b64encode(secrets.token_bytes(32)).decode()}
os.environ.update(
    {
        "APP_ENV": "development",
        "APP_MASTER_KEYS": json.dumps(TEST_MASTER_KEYS),
        "APP_PRIMARY_KEY_ID": "1",
        "PAPER_PRICE_SOURCE": os.environ.get("TEST_PAPER_PRICE_SOURCE", "synthetic"),
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
        "REFLEX_TELEMETRY_ENABLED": "false",
    }
)
os.environ.pop("REDIS_URL", None)
os.environ.pop("REFLEX_REDIS_URL", None)

# Fixtures every directory uses, registered once here (loaded after the environment above is set).
# A test asks for one by naming it as a parameter, without importing it: an imported fixture that is
# then named as a parameter is what ruff's F811 reports, and F811 stays on in tests because it also
# catches a second test of the same name, which silently replaces (and so never runs) the first.
# No module here may hold an autouse fixture: it would apply to every test of the suite.
pytest_plugins = (
    "tests.fakes.indexer",  # fake_indexer: the dYdX indexer's REST prices and books
    "tests.fakes.telegram",  # fake_telegram: the Bot API
    "tests.fakes.dydx_world",  # dydx_world: node (gRPC) + indexer + chain state
    "tests.services.monitor_support",  # paper_market, pushes
)


_FORGOTTEN_ENGINES: list[tuple[int, object]] = []  # (loop id, engine) dropped by reset_app_caches


def reset_app_caches() -> None:
    """Forget cached settings, keys and engines after the environment changed."""
    from trading_app.services.security.crypto import reset_keyring
    from trading_app.settings import get_settings

    get_settings.cache_clear()
    reset_keyring()
    from trading_app.db import engine

    # pools belong to the old event loops; the running test's own are closed by _dispose_pools
    _FORGOTTEN_ENGINES.extend((key[1], value[0]) for key, value in engine._engines.items())
    engine._engines.clear()
    from trading_app.venues.paper import prices

    prices._sources.clear()  # a price source's HTTP client belongs to the loop that made it
    from trading_app.services.intake import signal_store

    signal_store.forget_counts()  # remembered per-minute counts belong to the old database
    from trading_app.venues.dydx import limits

    limits._SHARED.clear()  # kept per node URL: a later test's fake node may get the same port


# A project directory of the app's own for a process that builds or runs it: code and migrations
# linked (read only), the files Reflex may write next to copied. `.web`, `.states` and `reflex.lock`
# are then created there, never in the checkout, where a developer's `scripts/run.sh` may be serving.
APP_LINKS = ("trading_app", "alembic")
APP_COPIES = ("rxconfig.py", "alembic.ini", "assets", "reflex.lock")


def app_tree(directory: Path) -> Path:
    """Make `directory` a project directory of the app (see APP_LINKS, APP_COPIES); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in APP_LINKS:
        if not (directory / name).exists():
            (directory / name).symlink_to(ROOT / name)
    for name in APP_COPIES:
        source, target = ROOT / name, directory / name
        if target.exists() or not source.exists():  # reflex.lock exists once Reflex wrote it
            continue
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    return directory


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def migrate(database_url: str) -> None:
    """Apply the Alembic revisions through `reflex db migrate`, exactly as operators do.

    It runs in an app tree of its own: loading the app creates `.states` in the working directory.
    """
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("REFLEX_DB_URL", None)
    env.pop("REFLEX_ASYNC_DB_URL", None)
    with tempfile.TemporaryDirectory(prefix="trading_app-migrate-") as directory:
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "reflex", "db", "migrate"],
            cwd=app_tree(Path(directory)),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    if result.returncode != 0:
        raise RuntimeError(f"reflex db migrate failed:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session", autouse=True)
def required_services() -> None:
    """Fail the whole run, loudly, when PostgreSQL or Redis is missing."""
    import psycopg
    import redis

    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as e:  # noqa: BLE001
        pytest.exit(f"PostgreSQL is required at {PG_ADMIN_DSN} and is unreachable: {e}", returncode=3)
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except Exception as e:  # noqa: BLE001
        pytest.exit(f"Redis is required at {REDIS_URL} and is unreachable: {e}", returncode=3)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that per-test databases are cloned from."""
    name = f"tmpl_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        migrate(f"postgresql+psycopg://{PG_BASE.split('://', 1)[1]}/{name}")
        yield name
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that per-test databases are copied from."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


def _use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    reset_app_caches()


@pytest.fixture
def pg_url(pg_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated, throwaway PostgreSQL database; the app is pointed at it."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = f"postgresql+psycopg://{PG_BASE.split('://', 1)[1]}/{name}"
    _use_database(monkeypatch, url)
    try:
        yield url
    finally:
        reset_app_caches()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated SQLite database file; the app is pointed at it."""
    path = tmp_path / "app.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    _use_database(monkeypatch, url)
    yield url
    reset_app_caches()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test on both databases."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def redis_url() -> str:
    """The local Redis; tests namespace their keys with a random prefix."""
    return REDIS_URL


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last, and their isolation check after every other browser test.

    Playwright's sync API keeps an event loop running in the main thread for the rest of
    the session, after which pytest-asyncio cannot start its own loops. The isolation check
    compares the checkout's `.web` with how it was before the harness: last, it covers them all.
    """
    items.sort(key=lambda item: ("/tests/e2e/" in str(item.fspath), str(item.fspath).endswith(E2E_LAST)))
    for item in items:  # see _dispose_pools
        names = getattr(item, "fixturenames", ())
        if inspect.iscoroutinefunction(getattr(item, "obj", None)) and DB_FIXTURES.intersection(names):
            names.insert(0, "_dispose_pools")


E2E_LAST = "/tests/e2e/test_isolation.py"
DB_FIXTURES = {"db_url", "sqlite_url", "pg_url"}


@pytest.fixture
async def _dispose_pools(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Close an async database test's pools on its own loop, before that loop closes.

    Otherwise an aiosqlite connection's thread outlives the loop and, when it is collected in a
    later test, reports "Event loop is closed" there, and psycopg connections are dropped by the
    garbage collector. Given to every async test that uses a database (not autouse: the sync
    browser tests run inside Playwright's loop); the database fixture is set up first so that
    it is torn down after this.
    """
    for name in DB_FIXTURES.intersection(request.fixturenames):
        request.getfixturevalue(name)
    yield
    from trading_app.db.engine import dispose_engines

    await dispose_engines()
    loop_id = id(asyncio.get_running_loop())
    forgotten = [e for loop, e in _FORGOTTEN_ENGINES if loop == loop_id]
    _FORGOTTEN_ENGINES.clear()  # the others' loops are gone: nothing can close them now
    for engine in forgotten:
        await engine.dispose()  # type: ignore[attr-defined]
