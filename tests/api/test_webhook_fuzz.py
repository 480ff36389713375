"""Thousands of malformed alerts through the real app: never a 5xx, and every stored row is a REJECTED
(or validly ACCEPTED) record of an authenticated request, accounted for by exactly one answer."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.webhook_support import Hook, client, make_hook, signal_rows, wrapped_app
from trading_app.db.engine import dispose_engines
from trading_app.services.intake.inbox import INTERNAL_ERROR

FIELDS = ["action", "market", "order_type", "price", "size", "size_usd", "risk_pct", "sl", "sl_pct", "tp",
          "tp_pct", "rr", "alert_id", "timestamp", "secret"]
NASTY = [
    "NaN",
    "Infinity",
    "-1",
    "0",
    "1e400",
    "1e-400",
    10**30,
    -(10**20),
    1e308,
    5e-324,
    "",
    " ",
    "\x00",
    "\ud800",
    "BTC",
    "BTC-USD",
    "ethusdt.p",
    "ETHBTC",
    "BINANCE:",
    ":",
    "buy",
    "SELL ",
    "reverse",
    "limit",
    "x" * 300,
    "2019-08-27T09:56:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31",
    "1700000000000",
    2**63,
    True,
    [],
    {},
    {"$gt": ""},
    [1, [2, [3]]],
    "\u202e",
    "１２３",
    "٣",
    "0x10",
    "1_000",
    "+5",
    ".5",
    "5.",
    "1e-19",
]
RAW_NUMBERS = [
    "1e999999999999999999999",
    "-1e-999999999999999999999",
    "9" * 5000,
    "1" + "0" * 400,
    "1.5e308",
    "-0",
    "0e0",
    "1E+2",
    "00012",
]
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(NASTY)
)
json_values = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)


@st.composite
def near_valid(draw: st.DrawFn, secret: str) -> bytes:
    """A valid alert with fields broken, dropped or added, then serialized and maybe damaged."""
    alert: dict[str, Any] = {"secret": secret, "action": "buy", "market": "BTC-USD"}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=5)):
        alert[name] = draw(st.sampled_from(NASTY) | json_values)
    for name in draw(st.lists(st.sampled_from(FIELDS[:3]), max_size=2)):
        alert.pop(name, None)
    text = json.dumps(alert, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 0, 2])))
    if draw(st.booleans()) and text.endswith("}") and len(alert) > 0:
        text = (
            text[:-1] + f', "{draw(st.sampled_from(FIELDS[3:12]))}": {draw(st.sampled_from(RAW_NUMBERS))}}}'
        )
    raw = text.encode("utf-8", "surrogatepass")
    damage = draw(st.sampled_from(["none", "none", "truncate", "garbage", "byte", "bom", "newline"]))
    if damage == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "garbage":
        raw += draw(st.binary(max_size=20))
    elif damage == "byte":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]
    elif damage == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif damage == "newline":
        raw += b"\n"
    return raw


def bodies(secret: str) -> st.SearchStrategy[bytes]:
    carrying = st.binary(max_size=200).map(lambda b: b'{"secret": "' + secret.encode() + b'", ' + b)
    deep = st.tuples(
        st.integers(1, 70_000),
        st.sampled_from([b"[", b'{"a":', b'{"secret": "' + secret.encode() + b'", "a":']),
    )
    return (
        near_valid(secret)
        | st.binary(max_size=300)
        | carrying
        | deep.map(lambda d: d[1] * d[0])
        | json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        | json_values.map(lambda v: json.dumps({"secret": secret, "x": v}).encode())
    )


EXAMPLES = 100  # batches of 10-20 concurrent requests: about 1,500 bodies per database


@pytest.mark.slow
def test_malformed_alerts_never_get_a_5xx_and_store_only_records_of_authenticated_requests(
    db_url: str,
) -> None:
    with asyncio.Runner() as runner:  # one loop for the whole test: the app's pools belong to it
        owner, stranger = runner.run(make_hook()), runner.run(make_hook())
        app = wrapped_app()
        answers: list[tuple[int, dict[str, Any]]] = []
        carried = 0
        addresses = itertools.count()

        async def post(hook: Hook, raw: bytes, content_type: str) -> None:
            # hypothesis seeds `random`: count addresses instead, so the failed-auth limit stays away
            n = next(addresses)
            async with client(app, ip=f"10.9.{n // 250 % 256}.{n % 250 + 1}") as c:
                r = await c.post(hook.path, content=raw, headers={"content-type": content_type})
            assert r.status_code < 500, (raw, r.status_code, r.text)
            answers.append((r.status_code, r.json()))

        async def send_all(batch: list[tuple[bytes, bool, str]]) -> None:
            await asyncio.gather(*(post(owner if mine else stranger, raw, ct) for raw, mine, ct in batch))

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            batch=st.lists(
                st.tuples(
                    bodies(owner.secret), st.booleans(), st.sampled_from(["application/json", "text/plain"])
                ),
                min_size=10,
                max_size=20,
            )
        )
        def run(batch: list[tuple[bytes, bool, str]]) -> None:
            nonlocal carried
            # the owner's secret sent to the stranger's webhook is as unauthenticated as a wrong secret
            carried += sum(1 for raw, mine, _ in batch if mine and owner.secret.encode() in raw)
            runner.run(send_all(batch))

        run()
        runner.run(dispose_engines())

    rows = signal_rows(db_url)
    statuses = Counter(code for code, _ in answers)
    assert len(answers) >= EXAMPLES * 10 and set(statuses) <= {200, 202, 401, 413, 422, 429}, statuses
    assert statuses[422] > EXAMPLES  # the strategies really do reach validation
    assert signal_rows(db_url, stranger.address) == []
    assert len(rows) <= carried
    by_id = {row["id"]: row for row in rows}
    created = Counter(
        body["signal_id"] for code, body in answers if code in (202, 422) or body.get("status") == "rejected"
    )
    assert set(created) == set(by_id) and set(created.values()) == {1}  # every row has exactly one answer
    for code, body in answers:
        if code == 202 or body.get("status") == "duplicate":
            assert by_id[body["signal_id"]]["status"] == "ACCEPTED"
        elif code == 422 or body.get("status") == "rejected":
            assert by_id[body["signal_id"]]["status"] == "REJECTED"
    for row in rows:
        assert row["status"] in ("ACCEPTED", "REJECTED") and row["reason"] != INTERNAL_ERROR, row
        assert owner.secret not in row["raw_body"]
