"""The durable inbox on PostgreSQL and SQLite: group commit, exactly-once keys under races, the log query."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from tests.api.webhook_support import execute_sql, make_hook, signal_rows
from tests.db.engine_events import listening
from trading_app.db.models import Signal
from trading_app.domain.clock import utcnow
from trading_app.services.intake import signal_sql, signal_store
from trading_app.services.intake.signal_store import (
    NewSignal,
    StoredSignal,
    list_signals,
    store_batch,
    store_signal,
)


def row(address: str, key: str | None = None, window: float | None = None, **changes: object) -> NewSignal:
    base = NewSignal(
        user_address=address,
        received_at=utcnow(),
        raw_body='{"secret": "***"}',
        status="ACCEPTED" if key else "REJECTED",
        dedupe_key=key,
        dedupe_window=window,
        reason=None if key else "bad",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@contextmanager
def statements() -> Iterator[dict[str, int]]:
    """Count the INSERT and SELECT statements and the COMMITs the app's engine sends."""
    seen = {"insert": 0, "select": 0, "commit": 0}

    def on_sql(sql: str) -> None:
        verb = sql.lstrip().split(None, 1)[0].lower()
        if verb in seen:
            seen[verb] += 1

    def on_commit(_conn: object) -> None:
        seen["commit"] += 1

    with listening(on_sql, on_commit=on_commit):
        yield seen


def transactions_that_inserted(db_url: str) -> int:
    """PostgreSQL: rows written by one transaction share its id (xmin)."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(DISTINCT xmin::text) FROM signals")).scalar_one()
    engine.dispose()
    return count


async def test_concurrent_stores_share_one_statement_and_one_commit(db_url: str) -> None:
    hook = await make_hook()
    await store_signal(row(hook.address, "id:warm-up"))  # connect outside the measurement
    flushes = signal_store._writes.flushes
    with statements() as seen:  # SQLite goes through the app's SQLAlchemy engine
        results = await asyncio.gather(*(store_signal(row(hook.address, f"id:{n}")) for n in range(100)))
    assert len({r.signal_id for r in results}) == 100 and not any(r.duplicate for r in results)
    # the first caller flushes alone, everything queued behind it goes in one statement and one commit
    assert signal_store._writes.flushes - flushes <= 2
    if db_url.startswith("sqlite"):
        assert seen["insert"] <= 2 and seen["commit"] <= 2, seen
    else:
        assert transactions_that_inserted(db_url) <= 3  # the warm-up's, and at most two for the 100
    assert len(signal_rows(db_url)) == 101


async def test_lookups_of_concurrent_requests_share_one_select(db_url: str) -> None:
    hooks = [await make_hook() for _ in range(3)]
    await signal_store.lookup_webhook(hooks[0].uuid)
    flushes = signal_store._lookups.flushes
    owners = await asyncio.gather(*(signal_store.lookup_webhook(h.uuid) for h in hooks * 10))
    assert signal_store._lookups.flushes - flushes <= 2  # each flush is one SELECT
    assert [o.address for o in owners] == [h.address for h in hooks * 10]
    # copies of one webhook in a batch count the ones ahead of them (the per-minute cap)
    assert sorted(o.recent for o in owners if o.address == hooks[0].address) == list(range(10))
    assert await signal_store.lookup_webhook("00000000-0000-4000-8000-000000000000") is None


async def test_the_owner_is_read_with_whether_trading_is_paused_and_a_pause_counts_at_once(
    db_url: str,
) -> None:
    from trading_app.services.accounts.pause import set_paused

    hook, other = await make_hook(), await make_hook()
    assert (await signal_store.lookup_webhook(hook.uuid)).paused is False
    await set_paused(hook.address, True)
    # read on every lookup (no memo): the very next alert sees it; another trader is untouched
    owners = await asyncio.gather(*(signal_store.lookup_webhook(h.uuid) for h in (hook, other)))
    assert [o.paused for o in owners] == [True, False]
    await set_paused(hook.address, False)
    assert (await signal_store.lookup_webhook(hook.uuid)).paused is False
    # no trading account row yet (a user who never opened Settings): not paused, paper
    execute_sql(db_url, "DELETE FROM trading_accounts WHERE address = :a", a=other.address)
    owner = await signal_store.lookup_webhook(other.uuid)
    assert owner is not None and owner.paused is False and owner.network == "paper"


async def test_the_cap_count_is_read_once_a_second_and_adds_this_workers_own_alerts(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = await make_hook()
    signal_store.forget_counts()
    # "within the second", for as long as needed
    monkeypatch.setattr(signal_store, "COUNT_REFRESH_SECONDS", 3600.0)
    assert (await signal_store.lookup_webhook(hook.uuid)).recent == 0
    await store_signal(row(hook.address, "id:mine"))  # stored by this worker: counted at once
    await store_signal(row(hook.address))  # refused at the door (no key): never counted
    first = await store_signal(row(hook.address, "id:twice"))
    assert (await store_signal(row(hook.address, "id:twice"))).duplicate  # a duplicate adds no row
    assert first.signal_id and (await signal_store.lookup_webhook(hook.uuid)).recent == 2
    async with signal_sql.transaction() as tx:  # another worker's alert, not through this worker's store
        await tx.insert_keyed([row(hook.address, "id:theirs")])
    assert (await signal_store.lookup_webhook(hook.uuid)).recent == 2  # not read again within the refresh
    monkeypatch.setattr(signal_store, "COUNT_REFRESH_SECONDS", 0.0)
    assert (await signal_store.lookup_webhook(hook.uuid)).recent == 3  # the database's count again


async def test_copies_inside_one_batch_are_duplicates_of_the_first(db_url: str) -> None:
    hook = await make_hook()
    results = await store_batch(
        [
            row(hook.address, "id:a"),
            row(hook.address),
            row(hook.address, "id:a"),
            row(hook.address, "id:b"),
            row(hook.address),
        ]
    )
    first = results[0].signal_id
    assert results[2] == StoredSignal(first, duplicate=True)
    assert not results[0].duplicate and not results[1].duplicate and not results[3].duplicate
    assert len({results[i].signal_id for i in (0, 1, 3, 4)}) == 4
    rows = signal_rows(db_url)
    assert sorted(r["dedupe_key"] or "" for r in rows) == ["", "", "id:a", "id:b"]


async def test_a_stale_body_key_is_rekeyed_once_when_copies_race_in_separate_transactions(
    db_url: str,
) -> None:
    hook = await make_hook()
    key, window = "body:" + "ab" * 32, 600.0
    (old,) = await store_batch([row(hook.address, key, window)])
    execute_sql(db_url, "UPDATE signals SET received_at = :t", t=utcnow() - timedelta(seconds=window + 1))
    # each call is its own transaction on its own connection: a real race on the unique key
    results = await asyncio.gather(*(store_batch([row(hook.address, key, window)]) for _ in range(12)))
    fresh = [r for (r,) in results if not r.duplicate]
    assert len(fresh) == 1, results
    assert all(r == StoredSignal(fresh[0].signal_id, duplicate=True) for (r,) in results if r.duplicate)
    rows = {r["id"]: r for r in signal_rows(db_url)}
    assert len(rows) == 2
    assert rows[old.signal_id]["dedupe_key"] == f"{key}:{old.signal_id}"
    assert rows[fresh[0].signal_id]["dedupe_key"] == key


async def test_an_id_key_dedupes_forever_and_a_fresh_body_key_inside_its_window(db_url: str) -> None:
    hook = await make_hook()
    (by_id,) = await store_batch([row(hook.address, "id:x")])
    (by_body,) = await store_batch([row(hook.address, "body:y", 600.0)])
    execute_sql(db_url, "UPDATE signals SET received_at = :t", t=utcnow() - timedelta(seconds=599))
    assert await store_batch([row(hook.address, "id:x"), row(hook.address, "body:y", 600.0)]) == [
        StoredSignal(by_id.signal_id, True),
        StoredSignal(by_body.signal_id, True),
    ]
    execute_sql(db_url, "UPDATE signals SET received_at = :t", t=utcnow() - timedelta(days=30))
    again = await store_batch([row(hook.address, "id:x"), row(hook.address, "body:y", 600.0)])
    assert again[0] == StoredSignal(by_id.signal_id, True) and not again[1].duplicate


async def test_a_poisonous_row_fails_alone(db_url: str) -> None:
    hook = await make_hook()
    good = [store_signal(row(hook.address, f"id:{n}")) for n in range(5)]
    bad = store_signal(row("0x" + "00" * 20, "id:bad"))  # no such user: the foreign key refuses it
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert all(isinstance(r, StoredSignal) for r in results[:5])
    assert isinstance(results[5], IntegrityError | psycopg.IntegrityError)
    assert len(signal_rows(db_url)) == 5


def test_a_naive_time_is_refused_before_it_reaches_the_database() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        row("0x" + "00" * 20, received_at=utcnow().replace(tzinfo=None))


async def test_list_signals_is_scoped_ordered_and_paged(db_url: str) -> None:
    mine, theirs = await make_hook(), await make_hook()
    now = utcnow()
    stored = await store_batch(
        [row(mine.address, f"id:{n}", received_at=now - timedelta(seconds=10 - n)) for n in range(5)]
    )
    # the same time twice: the id breaks the tie
    stored += await store_batch([row(mine.address, "id:tie", received_at=now - timedelta(seconds=8))])
    await store_batch([row(theirs.address, "id:0")])
    ids = [s.signal_id for s in stored]
    expected = [ids[4], ids[3], ids[5], ids[2], ids[1], ids[0]]
    first = await list_signals(mine.address, limit=4)
    assert [r.id for r in first.items] == expected[:4] and first.next_before == expected[3]
    second = await list_signals(mine.address, limit=4, before=first.next_before)
    assert [r.id for r in second.items] == expected[4:] and second.next_before is None
    assert [r.id for r in (await list_signals(theirs.address)).items] != []
    assert (await list_signals(theirs.address, before=ids[4])).items == []


async def test_columns_the_inbox_does_not_fill_get_the_model_defaults(db_url: str) -> None:
    hook = await make_hook()
    await store_batch(
        [row(hook.address, "id:defaults"), row(hook.address)]
    )  # the keyed and the one-by-one path
    defaults = {
        c.name: c.default.arg
        for c in Signal.__table__.columns
        if c.default is not None and c.default.is_scalar
    }
    assert defaults  # the model has some (attempts at least)
    for stored in signal_rows(db_url):
        assert {name: stored[name] for name in defaults} == defaults
        assert stored["updated_at"] == stored["received_at"] and stored["position_id"] is None
