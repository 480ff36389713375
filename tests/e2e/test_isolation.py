"""The browser tests and a dev server in the checkout (`scripts/run.sh`) do not disturb each other:
the harness builds into a project directory of its own, the checkout's `.web` is left exactly as it
was (every file's inode, mtime and size), or absent if it was absent, and the tests write nothing a
dev server there would hot-reload on (a reload recompiles its `.web` and reloads its open pages)."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.conftest import ROOT
from tests.e2e.conftest import RunningApp, watched_snapshot, web_snapshot
from tests.e2e.test_login import FIRST_LOAD


def test_the_harness_builds_and_keeps_state_outside_the_checkout(running_app: RunningApp, page: Page) -> None:
    root = running_app.root
    assert root != ROOT and not root.is_relative_to(ROOT)
    assert (root / ".web" / "app" / "root.jsx").is_file()  # the build the browser is served from
    assert (root / ".web" / "package.json").is_file()
    # a page with state: its session state is written to the harness's own .states
    page.goto(running_app.frontend_url + "/login")
    expect(page.get_by_role("button", name="Connect wallet and sign in")).to_be_visible(timeout=FIRST_LOAD)
    deadline = time.monotonic() + 30
    while not any((root / ".states").glob("*")) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert any((root / ".states").glob("*")), "the harness's state manager wrote nowhere in its own tree"


def test_the_checkouts_web_is_untouched(running_app: RunningApp) -> None:
    # taken before the harness started, compared now that it has built and served every page so far
    assert web_snapshot(ROOT / ".web") == running_app.checkout_web


def test_nothing_a_dev_server_reloads_on_was_written(running_app: RunningApp) -> None:
    now = watched_snapshot(ROOT)
    before = running_app.checkout_watched or {}
    changed = sorted(name for name in now.keys() | before.keys() if now.get(name) != before.get(name))
    assert changed == [], "written in the checkout during the browser tests (edited by hand meanwhile?)"
