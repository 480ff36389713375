"""The real app, run by Reflex's AppHarness on a throwaway PostgreSQL database, driven by
Playwright on Debian's Chromium.

The harness compiles into the project's `.web` directory, so only one harness may run on
a machine at a time (tests take /tmp/trading_app_browser.lock).
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PG_BASE, ROOT, _pg_admin, reset_app_caches

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class RunningApp:
    """Where the app under test answers."""

    frontend_url: str
    api_url: str
    database_url: str


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium instead of a downloaded browser (there is none here)."""
    if not Path(CHROMIUM).exists():
        pytest.exit(f"{CHROMIUM} is missing: run the README's test command, which installs it", returncode=3)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def _harness_lock() -> Iterator[None]:
    with open("/tmp/trading_app_browser.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def running_app(pg_template: str, _harness_lock: None) -> Iterator[RunningApp]:
    """Start the whole app (backend in-process, dev front end) on its own PostgreSQL database."""
    from reflex.testing import AppHarness

    name = f"e2e_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = f"postgresql+psycopg://{PG_BASE.split('://', 1)[1]}/{name}"
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "PUBLIC_URL", "API_URL")}
    os.environ["DATABASE_URL"] = url
    reset_app_caches()
    try:
        with AppHarness.create(root=ROOT, app_name="trading_app") as harness:
            from reflex_base.config import get_config

            api_url = get_config().api_url.rstrip("/")
            frontend_url = (harness.frontend_url or "").rstrip("/")
            # the page must be the same site as the backend (127.0.0.1), or Chromium drops the
            # SameSite=Lax session cookie that the login API sets
            frontend_url = frontend_url.replace("//localhost:", "//127.0.0.1:")
            # links and sign-in messages must name the origins the browser actually uses
            os.environ["PUBLIC_URL"] = frontend_url
            os.environ["API_URL"] = api_url
            reset_app_caches()
            yield RunningApp(frontend_url=frontend_url, api_url=api_url, database_url=url)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_app_caches()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


__all__ = ["ROOT", "RunningApp"]
