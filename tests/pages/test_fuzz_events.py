"""Every event handler of every State of the app (walked from `rx.State`, so a handler added later is
fuzzed too), called as Reflex calls it (its payload through Reflex's own conversion, generators run to
the end, what it yields checked as Reflex checks it) with odd arguments: wrong types, huge strings,
nested dicts, tenant B's ids; with no session, a forged one or A's.

Properties: no exception escapes a handler (Reflex would show the trader an error), B's rows never
change, and without a live session nobody's rows change at all.

Case count: EXAMPLES (400) handler calls per run, one call per hypothesis example; the test asserts
that many really ran and that every handler was called (about 30-40 s on a loaded 2-core machine).
Not fuzzed: Reflex's own `setvar` (no setter exists but `set_is_hydrated`: every other name raises
AttributeError inside Reflex before any of our code runs).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections import Counter
from typing import Any

import reflex as rx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reflex_base.event.processor.base_state_processor import _check_valid_yield, _prepare_event_payload

import trading_app.trading_app  # noqa: F401 - the app: every page, so every State, is registered
from tests.api.fuzz_support import Fingerprint, Tenant, new_session, seed_tenants, settle
from tests.fakes.indexer import FakeIndexer
from tests.pages.support import memory_app, tab
from trading_app.domain.risk_settings import RISK_FIELDS
from trading_app.services.auth.sessions import session_address

EXAMPLES = 400
SKIPPED = {"setvar"}
FORM_KEYS = ["api_private_key", "authenticator_id", "mnemonic", "owner_address", "telegram_chat_id",
             "telegram_token", "same_market_policy", "size_mode", "address", "chain", "detail", "error",
             "chat_id", "token", "network", "user_address", "position_id", *RISK_FIELDS]
ODD = ["", "0", "-1", "1e400", "NaN", "٣", "１２", str(2**64), "\x00", "\ud800", "\u202e", "x" * 100_000,
       "mainnet", "testnet", "paper", "buy", "BTC-USD", "../", "' OR 1=1 --", "<script>", "None"]


def _walk(cls: type[rx.State]) -> list[type[rx.State]]:
    return [cls, *(s for sub in cls.get_substates() for s in _walk(sub))]


def app_handlers() -> list[tuple[type[rx.State], str]]:
    found = [
        (cls, name)
        for cls in _walk(rx.State)
        if cls.__module__.startswith("trading_app.")
        for name in sorted(cls.event_handlers)
        if name not in SKIPPED
    ]
    names = {f"{cls.__name__}.{name}" for cls, name in found}
    assert {"DashboardState.close_position", "SettingsState.save_api_key", "AuthState.logout",
            "HistoryState.set_filter", "AlertsState.older", "WalletFeed.link"} <= names, names
    return found


HANDLERS = app_handlers()
leaf = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
        | st.sampled_from(ODD))
values = st.recursive(
    leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=12,
)


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@st.composite
def calls(draw: st.DrawFn, a: Tenant, b: Tenant) -> dict:
    """One call: the handler, its keyword payload, the session it carries."""
    cls, name = draw(st.sampled_from(HANDLERS))
    theirs = [*b.position_ids, *(str(i) for i in b.position_ids), b.address, b.webhook_uuid]
    mine = [*a.position_ids, *(str(i) for i in a.position_ids), a.address]
    arg = (values | st.sampled_from(theirs) | st.sampled_from(mine) | st.sampled_from(FORM_KEYS)
           | st.builds(_nested, st.sampled_from([50, 500])))
    form = st.dictionaries(st.sampled_from(FORM_KEYS) | st.text(max_size=8), arg, max_size=6)
    params = list(inspect.signature(cls.event_handlers[name].fn).parameters)[1:]
    payload = {p: draw(form | arg) for p in params}
    session = draw(st.sampled_from(["none", "mine", "mine", "forged", "theirs"]))
    return {"cls": cls, "name": name, "payload": payload, "session": session}


async def call(app: rx.App, client: str, token: str | None, cls: type[rx.State], name: str,
               payload: dict[str, Any]) -> None:
    """Run the handler as Reflex's event processor does (`process_event`), minus the socket."""
    handler = cls.event_handlers[name]
    async with tab(app, client, token, cls) as state:
        events = handler.fn(state, **_prepare_event_payload(handler, dict(payload)))
        if inspect.isawaitable(events):
            events = await events
        if inspect.isasyncgen(events):
            async for event in events:
                _check_valid_yield(event, handler_name=name)
        elif inspect.isgenerator(events):
            for event in events:
                _check_valid_yield(event, handler_name=name)
        elif events is not None:
            _check_valid_yield(events, handler_name=name)


def test_every_event_handler_fuzzed_raises_nothing_and_changes_no_other_tenants_rows(
    pg_url: str, paper_market: FakeIndexer
) -> None:
    with asyncio.Runner() as runner:
        a, b = runner.run(seed_tenants())
        prints = Fingerprint(pg_url)
        tabs = itertools.count()
        called: Counter[str] = Counter()
        token = a.token
        app_cm = memory_app()
        app = runner.run(app_cm.__aenter__())

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=calls(a, b))
        def one(case: dict) -> None:
            nonlocal token
            cookie = {"none": None, "mine": token, "forged": "A" * 43, "theirs": b.address}[case["session"]]
            live = case["session"] == "mine" and runner.run(session_address(token)) == a.address
            before_b = prints.of(b.address)
            before_all = None if live else prints.everyone()
            where = f"{case['cls'].__name__}.{case['name']}"
            try:
                runner.run(call(app, f"tab-{next(tabs)}", cookie, case["cls"], case["name"], case["payload"]))
            except Exception as e:
                raise AssertionError(f"{where} raised {type(e).__name__}: {e}"[:2000]) from e
            finally:
                runner.run(settle())
            called[where] += 1
            assert prints.of(b.address) == before_b, ("B's rows changed", where, case["payload"])
            assert before_all is None or prints.everyone() == before_all, ("rows changed", where, case)
            if runner.run(session_address(token)) is None:  # a legitimate sign-out: sign in again
                token = runner.run(new_session(a.address))

        try:
            one()
        finally:
            runner.run(app_cm.__aexit__(None, None, None))
            prints.close()

    logging.getLogger(__name__).info("fuzzed: %s handler calls, %s", sum(called.values()), called)
    assert sum(called.values()) == EXAMPLES, called  # hypothesis really ran every case
    assert set(called) == {f"{c.__name__}.{n}" for c, n in HANDLERS}, called
