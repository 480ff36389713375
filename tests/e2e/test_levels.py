"""A scaled position on the dashboard, in Chromium against the real app: both take-profit levels
(one filled, one waiting), the stop with its break-even badge, and the stop's history, at 1280 px.

The rows are written straight into the database as the scaling-out engine leaves them. The position
is on testnet, where this trader has no dYdX credentials: the monitor cannot read that account
(it logs and retries), so it never touches the seeded rows while the page is looked at.
Screenshot: /tmp/levels.png (and .playwright-artifacts/screenshots/levels.png).
"""

from __future__ import annotations

import json

import psycopg
from playwright.sync_api import Browser, BrowserContext, expect

from tests.e2e.conftest import SHOTS, RunningApp
from tests.e2e.test_grid import HEIGHT, WIDTH, assert_fits
from tests.e2e.wallet import sign_in_via_api

FIRST_LOAD = 90_000  # the dev server compiles a page on its first visit
PLAN = {"kind": "tp", "targets": ["97500", "99000"], "split": ["50", "50"], "be_after_tp": 1,
        "trail_pct": "1", "trail": None, "trail_after_tp": 2}  # fmt: skip
ORDER_SQL = """INSERT INTO orders (user_address, position_id, network, market, role, level, order_type,
    side, size, trigger_price, reduce_only, client_id, order_flags, clob_pair_id, subaccount, status,
    filled_size, avg_fill_price, fee, created_at, updated_at)
    VALUES (%s, %s, 'testnet', 'BTC-USD', %s, %s, %s, 'SELL', %s, %s, true, %s, 32, 0, 0, %s, %s, %s, 0,
    %s, %s)"""


def seed_scaled_position(app: RunningApp, address: str) -> tuple[int, int]:
    """Long 0.005 BTC left of 0.010 at 97,262.0: TP1 97,500.0 filled, TP2 99,000.0 waiting, the stop
    moved from 96,000.0 to break-even at 12:01:07 UTC, and one trailing move the venue deferred; the
    alert that opened it. Returns the position's and the alert's ids."""
    at = "2026-03-02 12:00:00+00"
    with psycopg.connect(app.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        pid = conn.execute(
            """INSERT INTO positions (user_address, network, market, side, size, entry_price, tp_price,
            sl_price, status, opened_at, updated_at, fees, tick_size, step_size, scale_plan)
            VALUES (%s, 'testnet', 'BTC-USD', 'LONG', 0.005, 97262, 99000, 97262, 'OPEN', %s, %s, 0, 0.1,
            0.001, %s) RETURNING id""",
            (address, at, at, json.dumps(PLAN)),
        ).fetchone()[0]  # type: ignore[index]
        orders = [
            ("STOP_LOSS", None, "STOP_MARKET", "0.010", "96000", 9001, "CANCELED", "0", None, at),
            ("TAKE_PROFIT", 1, "TAKE_PROFIT_MARKET", "0.005", "97500", 9002, "FILLED", "0.005", "97500", at),
            ("TAKE_PROFIT", 2, "TAKE_PROFIT_MARKET", "0.005", "99000", 9003, "UNTRIGGERED", "0", None, at),
            ("STOP_LOSS", None, "STOP_MARKET", "0.005", "97262", 9004, "UNTRIGGERED", "0", None,
             "2026-03-02 12:01:07+00"),
        ]  # fmt: skip
        for role, level, kind, size, trigger, cid, status, filled, avg, created in orders:
            conn.execute(
                ORDER_SQL,
                (address, pid, role, level, kind, size, trigger, cid, status, filled, avg, created, created),
            )
        moves = [
            ("BREAK_EVEN", "96000", "97262", "MOVED", None, "2026-03-02 12:01:07+00"),
            ("TRAIL", "97262", "97300", "DEFERRED", "order budget used up", "2026-03-02 12:03:30+00"),
        ]
        sid = conn.execute(
            """INSERT INTO signals (user_address, received_at, raw_body, action, market, status, paper,
            attempts, updated_at, position_id) VALUES (%s, %s, '{"action": "buy"}', 'buy', 'BTC-USD',
            'EXECUTED', false, 1, %s, %s) RETURNING id""",
            (address, at, at, pid),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE positions SET signal_id = %s WHERE id = %s", (sid, pid))
        for reason, old, new, outcome, detail, created in moves:
            conn.execute(
                """INSERT INTO stop_moves (user_address, position_id, reason, old_price, new_price,
                size, outcome, detail, created_at, updated_at)
                VALUES (%s, %s, %s, %s, %s, 0.005, %s, %s, %s, %s)""",
                (address, pid, reason, old, new, outcome, detail, created, created),
            )
    return pid, sid


def test_dashboard_shows_levels_stop_badge_and_history(running_app: RunningApp, browser: Browser) -> None:
    context: BrowserContext = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    address = sign_in_via_api(context, running_app).address
    pid, sid = seed_scaled_position(running_app, address)
    page = context.new_page()
    page.goto(running_app.frontend_url + "/dashboard")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=FIRST_LOAD)
    row = page.locator(f"#position-{pid}")
    expect(row).to_contain_text("BTC-USD", timeout=FIRST_LOAD)
    expect(row).to_contain_text("99,000.0")  # the next level still to fill
    expect(row).to_contain_text("97,262.0")  # the stop now

    scale = page.locator(f"#scale-{pid}")
    expect(page.locator(f"#level-{pid}-TP1")).to_have_text("TP197,500.0·0.005✓ filled")
    expect(page.locator(f"#level-{pid}-TP2")).to_have_text("TP299,000.0·0.005waiting")
    expect(scale).to_contain_text("2 targets · break-even after TP1 · trailing 1 % after TP2")
    stop = page.locator(f"#stop-{pid}")
    expect(stop.locator(".stop-be")).to_have_text("break-even")
    expect(stop.locator(".stop-trail")).to_have_count(0)  # trailing starts after TP2
    steps = page.locator(f"#stop-history-{pid} .stop-step")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text("96,000.0initial12:00:00")
    expect(steps.nth(1)).to_contain_text("96,000.0 → 97,262.0break-even12:01:07")
    expect(steps.nth(2)).to_contain_text("97,262.0 → 97,300.0trailing12:03:30deferred")
    # one row for the position, one under it: a single-target position has only the first
    expect(page.locator("#open-positions tbody tr")).to_have_count(2)

    SHOTS.mkdir(parents=True, exist_ok=True)
    for path in ("/tmp/levels.png", str(SHOTS / "levels.png")):  # noqa: S108 - where the reviewer looks
        page.screenshot(path=path, full_page=True)
    assert_fits(page, "dashboard with a scaled position")

    # the alert's story lists every stop move with its outcome
    page.goto(running_app.frontend_url + f"/alerts/{sid}")
    stops = page.locator("#story-stops tbody tr")
    expect(stops).to_have_count(3, timeout=FIRST_LOAD)
    expect(stops.nth(1)).to_contain_text("2026-03-02 12:01:07 UTC96,000.097,262.0break-evenmoved")
    expect(stops.nth(2)).to_contain_text("deferred: order budget used up")
    page.screenshot(path=str(SHOTS / "levels-story.png"), full_page=True)
    assert_fits(page, "alert story of a scaled position")
    context.close()
