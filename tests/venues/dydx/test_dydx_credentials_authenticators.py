"""Permissioned keys: an authenticator tree is accepted only if, as the chain evaluates it, it lets
this key place and cancel orders for the account's subaccount and nothing else.

Trees are encoded the way the clients send them (base64 configs nested in JSON, as v4-client-js
trading-key-utils.ts and v4-client-py-v2 `convert_nested_config_to_base64` do). The property test
compares the checker with a brute-force model of the chain's Authenticate (protocol/x/accountplus/
authenticator/*.go) over every request of a small universe.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from dydx_v4_client.node.authenticators import Authenticator, AuthenticatorType
from dydx_v4_client.node.message import add_authenticator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading_app.venues.dydx.authenticators import MalformedAuthenticator, branches
from trading_app.venues.dydx.credentials import InvalidCredential, check_trading_authenticator, public_key_of

OURS = public_key_of("1" * 64)
OTHER = public_key_of("2" * 64)
THIRD = public_key_of("3" * 64)
PLACE = "/dydxprotocol.clob.MsgPlaceOrder"
CANCEL = "/dydxprotocol.clob.MsgCancelOrder"
BATCH = "/dydxprotocol.clob.MsgBatchCancel"
WITHDRAW = "/dydxprotocol.sending.MsgWithdrawFromSubaccount"
SEND = "/cosmos.bank.v1beta1.MsgSend"
TRANSFER = "/dydxprotocol.sending.MsgCreateTransfer"
CLOB = (PLACE, CANCEL, BATCH)

Tree = tuple[str, Any]


def sig(key: bytes = OURS) -> Tree:
    return ("SignatureVerification", key)


def msgs(*types: str) -> Tree:
    return ("MessageFilter", ",".join(types).encode())


def subs(*numbers: int | str) -> Tree:
    return ("SubaccountFilter", ",".join(map(str, numbers)).encode())


def pairs(*numbers: int) -> Tree:
    return ("ClobPairIdFilter", ",".join(map(str, numbers)).encode())


def all_of(*children: Tree) -> Tree:
    return ("AllOf", list(children))


def any_of(*children: Tree) -> Tree:
    return ("AnyOf", list(children))


def encode(tree: Tree) -> tuple[str, bytes]:
    """(type, config) as stored on chain: composites hold JSON [{"type", "config": base64}]."""
    kind, value = tree
    if kind not in ("AllOf", "AnyOf"):
        return kind, value
    entries = []
    for child in value:
        child_kind, child_config = encode(child)
        entries.append({"type": child_kind, "config": base64.b64encode(child_config).decode()})
    return kind, json.dumps(entries, separators=(",", ":")).encode()


def problem(tree: Tree, subaccount: int = 0, key: bytes = OURS) -> str | None:
    kind, config = encode(tree)
    try:
        check_trading_authenticator(kind, config, key, subaccount, authenticator_id=7)
    except InvalidCredential as e:
        return str(e)
    return None


DYDX_TRADE = all_of(sig(), any_of(msgs(PLACE), msgs(CANCEL), msgs(BATCH)), subs(0))


def dydx_trade_bytes(public_key: bytes) -> tuple[str, bytes]:
    """Exactly what v4-client-js getAuthorizeNewTradingKeyArguments builds (trading-key-utils.ts)."""
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()
    filters = [{"type": "MessageFilter", "config": b64(t)} for t in CLOB]
    any_of_filters = json.dumps(filters, separators=(",", ":"))
    sub_auth = [
        {"type": "SignatureVerification", "config": base64.b64encode(public_key).decode()},
        {"type": "AnyOf", "config": b64(any_of_filters)},
        {"type": "SubaccountFilter", "config": b64("0")},
    ]
    return "AllOf", json.dumps(sub_auth, separators=(",", ":")).encode()


def test_dydx_trade_key_passes_for_subaccount_0_and_fails_for_1():
    kind, config = dydx_trade_bytes(OURS)
    check_trading_authenticator(kind, config, OURS, 0, authenticator_id=7)
    with pytest.raises(InvalidCredential) as info:
        check_trading_authenticator(kind, config, OURS, 1, authenticator_id=7)
    assert "subaccount 0 only, not this account's subaccount 1" in str(info.value)
    assert problem(DYDX_TRADE) is None and problem(DYDX_TRADE, 1) is not None
    with pytest.raises(InvalidCredential, match="another key"):
        check_trading_authenticator(kind, config, OTHER, 0)


def test_python_client_encoding_is_read_the_same():
    # v4-client-py-v2: compose() writes byte lists, add_authenticator() turns nested ones into base64
    composed = Authenticator.compose(AuthenticatorType.AllOf, [
        Authenticator.signature_verification(OURS),
        Authenticator.message_filter(",".join(CLOB)),
        Authenticator.subaccount_filter([0]),
        Authenticator.clob_pair_id_filter([0, 1]),
    ])
    stored = add_authenticator("dydx1owner", composed.type, composed.config).data
    check_trading_authenticator("AllOf", stored, OURS, 0)
    # Go's encoding/json also reads a []byte from a list of byte values
    check_trading_authenticator("AllOf", composed.config, OURS, 0)
    with pytest.raises(InvalidCredential):
        check_trading_authenticator("AllOf", stored, OURS, 2)


def test_the_issue_key_that_can_sign_anything_is_refused():
    tree = any_of(sig(), all_of(sig(), msgs(PLACE)))
    reason = problem(tree)
    assert reason is not None
    assert reason.startswith("authenticator 7 is refused: its branch 7.0 SignatureVerification(this key) "
                             "allows every message type, withdrawals and transfers included; its branch "
                             "7.1.0 SignatureVerification(this key) + 7.1.1 MessageFilter(MsgPlaceOrder) "
                             "allows orders for every subaccount")
    assert OURS.hex() not in reason and base64.b64encode(OURS).decode() not in reason


REFUSED = [
    (sig(), "every message type"),
    (all_of(sig(), msgs(PLACE, CANCEL)), "every subaccount"),  # no SubaccountFilter
    (all_of(sig(), msgs(PLACE, CANCEL, WITHDRAW), subs(0)), f"also allows {WITHDRAW}"),
    (all_of(sig(), any_of(msgs(PLACE), msgs(CANCEL), msgs(SEND)), subs(0)), f"also allows {SEND}"),
    (all_of(sig(), msgs(PLACE, CANCEL), subs(0, 1)), "also allows subaccount 1"),
    (all_of(sig(), msgs(PLACE, CANCEL), subs(3)), "subaccount 3 only"),
    (all_of(sig(OTHER), msgs(PLACE, CANCEL), subs(0)), "does not authorize this API key"),
    (any_of(DYDX_TRADE, all_of(sig(OTHER), msgs(PLACE), subs(0))), "lets another key sign"),
    (any_of(DYDX_TRADE, all_of(msgs(PLACE), subs(0))), "needs no signature"),
    (any_of(DYDX_TRADE, all_of(sig(), msgs(WITHDRAW))), f"also allows {WITHDRAW}"),
    (all_of(sig(), any_of(msgs(PLACE), all_of(subs(0), msgs(CANCEL)))), "every subaccount"),
    (all_of(sig(), any_of(subs(0), msgs(PLACE)), msgs(PLACE, CANCEL)), "every subaccount"),
    (all_of(sig(), any_of(subs(0), msgs(PLACE))), "every message type"),
    (all_of(sig(), msgs(CANCEL, BATCH), subs(0)), "never lets this key send MsgPlaceOrder"),
    (all_of(sig(), msgs(PLACE), subs(0)), "never lets this key send MsgCancelOrder"),
    (all_of(sig(), msgs(PLACE), msgs(CANCEL)), "can never succeed"),
    (all_of(sig(), msgs(PLACE, CANCEL), pairs(0), pairs(1), subs(0)), "can never succeed"),
    (all_of(sig(), msgs(*CLOB), pairs(0), pairs(1), subs(0)), "never lets this key send MsgPlaceOrder"),
    (all_of(sig(), all_of(sig(), msgs(PLACE, CANCEL, TRANSFER)), subs(0)), f"also allows {TRANSFER}"),
]


@pytest.mark.parametrize(("tree", "why"), REFUSED)
def test_refused_trees_say_which_branch_allows_what(tree, why):
    reason = problem(tree)
    assert reason is not None and why in reason, reason
    assert "subaccount 0 (dydx.trade" in reason  # what to do instead


ACCEPTED = [
    DYDX_TRADE,
    all_of(sig(), msgs(PLACE, CANCEL, BATCH), subs(0)),
    all_of(sig(), msgs(PLACE, CANCEL), subs(0), pairs(0, 1)),  # fewer markets is fine
    all_of(subs(0), msgs(CANCEL, PLACE), sig()),  # order does not matter
    all_of(sig(), msgs(PLACE, CANCEL), subs(0, 1), subs(0, 2)),  # the filters meet at 0
    all_of(sig(), msgs(PLACE, CANCEL, WITHDRAW), msgs(PLACE, CANCEL), subs(0)),  # the filters meet
    all_of(sig(), msgs(PLACE, CANCEL, ""), subs(0)),  # "" matches no type URL
    any_of(DYDX_TRADE, all_of(sig(), msgs(PLACE), subs(0), pairs(3))),
    any_of(DYDX_TRADE, all_of(sig(), sig(OTHER))),  # one signature cannot verify under two keys
    any_of(DYDX_TRADE, all_of(sig(OTHER), msgs(PLACE), msgs(CANCEL))),  # can never succeed
    all_of(sig(), any_of(all_of(msgs(PLACE), subs(0)), all_of(msgs(CANCEL), subs(0)))),
]


@pytest.mark.parametrize("tree", ACCEPTED)
def test_trading_only_trees_are_accepted(tree):
    assert problem(tree) is None


def test_subaccount_other_than_zero():
    tree = all_of(sig(), msgs(PLACE, CANCEL), subs(5))
    assert problem(tree, 5) is None
    assert "subaccount 5 only" in (problem(tree, 0) or "")
    # dydx.trade only makes keys for subaccount 0: it is not suggested for another one
    assert "dydx.trade" not in (problem(DYDX_TRADE, 5) or "dydx.trade")


MALFORMED = [
    (("Unknown", b""), "does not register"),
    (("PartitionedAllOf", b"[]"), "does not register"),
    (("AllOf", b"not json"), "not JSON"),
    (("AllOf", b'{"type": "x"}'), "not a list"),
    (("AllOf", json.dumps([{"type": "SignatureVerification", "config": base64.b64encode(OURS).decode()}])
      .encode()), "at least 2"),
    (("AnyOf", b"null"), "at least 2"),
    (("AllOf", b'[{"type":"SignatureVerification","config":"!!"},{"type":"MessageFilter","config":""}]'),
     "base64"),
    (encode(all_of(sig(), msgs(PLACE, CANCEL), subs("0 "))), "whole number"),
    (encode(all_of(sig(), msgs(PLACE, CANCEL), subs(""))), "whole number"),
    (encode(all_of(sig(), msgs(PLACE, CANCEL), subs(2**32))), "whole number"),
    (encode(all_of(sig(), msgs(PLACE, CANCEL), pairs(), subs(0))), "whole number"),
]


@pytest.mark.parametrize(("stored", "why"), MALFORMED)
def test_trees_the_chain_cannot_initialise_are_refused(stored, why):
    with pytest.raises(InvalidCredential) as info:
        check_trading_authenticator(*stored, OURS, 0)
    assert why in str(info.value) and "cannot authorize any order" in str(info.value)


def test_go_json_rules_for_composite_entries():
    # keys match case-insensitively and the last one wins, as Go's encoding/json decodes them
    entries = [
        {"TYPE": "SignatureVerification", "Config": base64.b64encode(OURS).decode()},
        {"type": "MessageFilter", "config": base64.b64encode(WITHDRAW.encode()).decode(),
         "CONFIG": base64.b64encode(f"{PLACE},{CANCEL}".encode()).decode()},
        {"type": "SubaccountFilter", "config": list(b"0")},
    ]
    check_trading_authenticator("AllOf", json.dumps(entries).encode(), OURS, 0)
    entries[1] = {"config": base64.b64encode(f"{PLACE},{CANCEL}".encode()).decode(), "type": "MessageFilter",
                  "cOnFiG": base64.b64encode(WITHDRAW.encode()).decode()}
    with pytest.raises(InvalidCredential, match="MsgWithdrawFromSubaccount"):
        check_trading_authenticator("AllOf", json.dumps(entries).encode(), OURS, 0)


def test_huge_trees_are_refused_not_expanded_forever():
    choice = any_of(msgs(PLACE, CANCEL), msgs(PLACE, CANCEL, BATCH))
    wide = all_of(*[choice] * 10, sig(), subs(0))
    with pytest.raises(InvalidCredential, match="too many to check"):
        check_trading_authenticator(*encode(wide), OURS, 0)
    with pytest.raises(MalformedAuthenticator):
        branches(*encode(wide), OURS)


# -- brute force: the chain's Authenticate on every request of a small universe -------------------

SIGNERS = (OURS, OTHER, THIRD)
TYPES = (PLACE, CANCEL, BATCH, WITHDRAW, SEND)
SUBACCOUNTS = (0, 1, 2)
PAIRS = (0, 1, 2)


def chain_accepts(tree: Tree, signer: bytes, type_url: str, subaccount: int, clob: tuple[int, ...]) -> bool:
    """protocol/x/accountplus/authenticator/*.go Authenticate, for one message of one tx."""
    kind, value = tree
    if kind == "AllOf":
        return all(chain_accepts(c, signer, type_url, subaccount, clob) for c in value)
    if kind == "AnyOf":
        return any(chain_accepts(c, signer, type_url, subaccount, clob) for c in value)
    if kind == "SignatureVerification":
        return value == signer
    if kind == "MessageFilter":
        return type_url in value.decode().split(",")
    whitelist = {int(x) for x in value.decode().split(",")}
    if kind == "SubaccountFilter":
        return type_url not in CLOB or subaccount in whitelist
    assert kind == "ClobPairIdFilter"
    return type_url not in CLOB or all(c in whitelist for c in clob)


def requests():
    for signer, type_url, subaccount in itertools.product(SIGNERS, TYPES, SUBACCOUNTS):
        # MsgBatchCancel carries a list of short-term cancels (maybe none); the others one pair
        clobs = [(), *((c,) for c in PAIRS)] if type_url == BATCH else [(c,) for c in PAIRS]
        for clob in clobs:
            yield signer, type_url, subaccount, clob


def brute_force_ok(tree: Tree, subaccount: int) -> bool:
    can = set()
    for request in requests():
        if not chain_accepts(tree, *request):
            continue
        signer, type_url, number, _ = request
        if signer != OURS or type_url not in CLOB or number != subaccount:
            return False
        can.add(type_url)
    return {PLACE, CANCEL} <= can


leaf = st.one_of(
    st.sampled_from(SIGNERS).map(sig),
    st.lists(st.sampled_from([*TYPES, ""]), min_size=1, max_size=4).map(lambda t: msgs(*t)),
    st.lists(st.sampled_from(SUBACCOUNTS), min_size=1, max_size=3).map(lambda n: subs(*n)),
    st.lists(st.sampled_from(PAIRS[:2]), min_size=1, max_size=2).map(lambda n: pairs(*n)),
)
trees = st.recursive(
    leaf,
    lambda children: st.builds(lambda k, c: (k, c), st.sampled_from(["AllOf", "AnyOf"]),
                               st.lists(children, min_size=2, max_size=4)),
    max_leaves=9,
)
# trees shaped like real keys (a signature, a message filter, a subaccount filter) with a random
# extra part, so that accepted trees are common too
near_real = st.builds(
    lambda extra, kind, order: (kind, [DYDX_TRADE, extra][::order]),
    trees, st.sampled_from(["AllOf", "AnyOf"]), st.sampled_from([1, -1]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.one_of(trees, near_real), subaccount=st.sampled_from((0, 1)))
def test_checker_agrees_with_the_chain_on_every_request(tree, subaccount):
    expected = brute_force_ok(tree, subaccount)
    assert (problem(tree, subaccount) is None) == expected, problem(tree, subaccount)


def test_the_property_sees_both_answers():
    # the generator is not vacuous: it yields trees the brute force accepts and refuses
    assert brute_force_ok(DYDX_TRADE, 0) and not brute_force_ok(DYDX_TRADE, 1)
    assert brute_force_ok(all_of(DYDX_TRADE, any_of(sig(), msgs(SEND))), 0)
    assert not brute_force_ok(any_of(DYDX_TRADE, sig()), 0)
