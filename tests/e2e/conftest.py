"""The real app, run by Reflex's AppHarness on a throwaway PostgreSQL database, driven by
Playwright on Debian's Chromium.

The harness builds and runs the app in a project directory of its own (`tests.conftest.app_tree`:
the code linked, rxconfig.py and assets copied), with Reflex's `.web` and `.states` pinned there: a
`scripts/run.sh` serving from the checkout keeps its `.web`, and the tests never see its builds.
Browser runs still take /tmp/trading_app_browser.lock, one at a time per machine: each starts a
Vite dev server and Chromium, and two at once on a small machine starve each other's timeouts.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PG_BASE, ROOT, _pg_admin, app_tree, reset_app_caches

CHROMIUM = "/usr/bin/chromium"
# Screenshots go next to Playwright's own artifacts (`--output`, emptied at each run). A hidden
# directory: a dev server in the checkout hot-reloads, and rebuilds its `.web`, on any other new file
SHOTS = ROOT / ".playwright-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Reflex's working directories, pinned (absolute) into the harness's own project directory: the
# backend thread runs outside the harness's chdir, and relative defaults would resolve in the checkout
WORKDIRS = {"REFLEX_WEB_WORKDIR": ".web", "REFLEX_STATES_WORKDIR": ".states"}
Snapshot = dict[str, tuple[int, int, int]] | None


# What a dev server in the checkout reloads on (reflex/utils/exec.py, `get_reload_paths` and
# HOTRELOAD_IGNORE_PATTERNS; granian watches with watchfiles' DefaultFilter): any file under the
# project's top-level entries except hidden and dunder ones, reflex.lock and uploaded_files, skipping
# __pycache__/node_modules/hidden directories, compiled Python, these extensions and extensionless files
_NOT_RELOADED = {".txt", ".toml", ".sqlite", ".yaml", ".yml", ".json", ".sh", ".bash", ".log", ".db",
                 ".pyc", ".pyo", ".pyd", ".swp"}


@dataclass(frozen=True)
class RunningApp:
    """Where the app under test answers, where it was built, and the checkout as it was before."""

    frontend_url: str
    api_url: str
    database_url: str
    root: Path
    checkout_web: Snapshot
    checkout_watched: Snapshot


def watched_snapshot(project: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, mtime, size) of every file whose change would hot-reload a dev server in `project`."""
    found = {}
    for top in project.iterdir():
        if top.name.startswith((".", "__")) or top.name in ("reflex.lock", "uploaded_files"):
            continue
        for path in [top] if top.is_file() else top.rglob("*"):
            relative = path.relative_to(project)
            parents = relative.parts[:-1]
            skipped_dir = any(p.startswith(".") or p in ("__pycache__", "node_modules") for p in parents)
            if skipped_dir or not path.is_file() or not path.suffix or path.suffix in _NOT_RELOADED:
                continue
            stat = path.stat()
            found[str(relative)] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return found


def web_snapshot(web: Path) -> Snapshot:
    """(inode, mtime, size) of every file of a `.web` outside node_modules; None when it is absent.

    A build rewrites these files (pages, routes, package.json, reflex.json, the backend's JSON); a
    dev server that is only serving leaves them alone (Vite's own cache is under node_modules).
    """
    if not web.exists():
        return None
    found = {}
    for path in web.rglob("*"):
        relative = path.relative_to(web)
        if relative.parts[0] == "node_modules" or not path.is_file():
            continue
        stat = path.stat()
        found[str(relative)] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return found


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium instead of a downloaded browser (there is none here)."""
    if not Path(CHROMIUM).exists():
        pytest.exit(f"{CHROMIUM} is missing: run the README's test command, which installs it", returncode=3)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def _harness_lock() -> Iterator[None]:
    with open("/tmp/trading_app_browser.lock", "w") as lock:  # noqa: S108 - one per machine, on purpose
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def running_app(
    pg_template: str, _harness_lock: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """Start the whole app (backend in-process, dev front end) on its own PostgreSQL database, built
    in its own project directory."""
    from reflex.testing import AppHarness

    name = f"e2e_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = f"postgresql+psycopg://{PG_BASE.split('://', 1)[1]}/{name}"
    root = app_tree(tmp_path_factory.mktemp("e2e-app"))
    checkout_web, checkout_watched = web_snapshot(ROOT / ".web"), watched_snapshot(ROOT)
    saved = {
        k: os.environ.get(k)
        for k in ("DATABASE_URL", "PUBLIC_URL", "API_URL", "CORS_ALLOWED_ORIGINS", *WORKDIRS)
    }
    os.environ["DATABASE_URL"] = url
    # AppHarness starts the dev front end on a port of its choosing (PORT=0) after the backend has
    # read its CORS/websocket origins: let any origin in (development only; production refuses `*`).
    # The API's own write guard still compares Origin with PUBLIC_URL, set below once it is known;
    # the websocket's origin check is tested on its own (tests/test_rxconfig.py).
    os.environ["CORS_ALLOWED_ORIGINS"] = "*"
    os.environ.update({variable: str(root / directory) for variable, directory in WORKDIRS.items()})
    reset_app_caches()
    try:
        with AppHarness.create(root=root, app_name="trading_app") as harness:
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
            yield RunningApp(frontend_url, api_url, url, root, checkout_web, checkout_watched)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_app_caches()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


__all__ = ["ROOT", "SHOTS", "RunningApp"]
