"""Golden vectors: our signed order transactions equal the official v4-client-js's, byte for byte.

tests/fixtures/dydx/golden_vectors.json was written by tests/fixtures/dydx/generate.mjs with
@dydxprotocol/v4-client-js (its CompositeClient.placeOrder / cancelRawOrder, Composer and cosmjs
signing; README.md there says how to regenerate). Here each order is built the way the venue
builds it: the indexer entry through `parse.market_spec`, the message through
`encoding.market_order` / `limit_order` / `conditional_order` / `cancel_message` and
`message.place_order`, the key through the product's credential checks, and the signature
with the dydx_v4_client builder functions that `Signer` uses, over the vector's envelope.
Any differing byte (a field, quantums, subticks, client_metadata, the key, the signature) fails.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dydx_v4_client import OrderFlags
from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.node import message
from dydx_v4_client.node.builder import DEFAULT_FEE, get_signature, get_signer_info
from dydx_v4_client.wallet import Wallet
from google.protobuf import text_format
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, Tx, TxBody, TxRaw
from v4_proto.dydxprotocol.clob.order_pb2 import Order
from v4_proto.dydxprotocol.clob.tx_pb2 import MsgCancelOrder, MsgPlaceOrder

from trading_app.domain.enums import Network, Side
from trading_app.venues.dydx import DydxEndpoints, Signer, encoding, parse
from trading_app.venues.dydx.client import DydxClient
from trading_app.venues.dydx.credentials import normalize_mnemonic, normalize_private_key

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "dydx" / "golden_vectors.json"
GOLDEN = json.loads(FIXTURE.read_text())
ENVELOPE = GOLDEN["envelope"]
KEYS = GOLDEN["keys"]
OWNER = KEYS["mnemonic"]["address"]
SPECS = {ticker: parse.market_spec(entry) for ticker, entry in GOLDEN["markets"].items()}
VECTORS = GOLDEN["vectors"]
KINDS = {"market_ioc", "market_ioc_reduce_only", "limit", "take_profit", "stop_loss",
         "cancel_short_term", "cancel_stateful"}


def _by_name(vectors: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("vector", vectors, ids=[v["name"] for v in vectors])


def _message(vector: dict[str, Any]) -> Any:
    """The clob message, built with the encoding functions and arguments venue.py uses."""
    o, kind = vector["order"], vector["kind"]
    spec = SPECS[o["market"]]
    if kind.startswith("cancel"):
        order_id = encoding.make_order_id(OWNER, 0, o["client_id"], spec, o["order_flags"])
        if kind == "cancel_short_term":
            return encoding.cancel_message(order_id, good_til_block=o["good_til_block"])
        return encoding.cancel_message(order_id, good_til_block_time=o["good_til_block_time"])
    side, size = Side(o["side"]), Decimal(o["size"])
    if kind.startswith("market"):
        order = encoding.market_order(spec, OWNER, 0, o["client_id"], side, size, Decimal(o["worst_price"]),
                                      o["good_til_block"], o["reduce_only"])
        return message.place_order(order)
    gtbt = encoding.good_til_block_time(o["now"], o["good_til_seconds"])
    if kind == "limit":
        order = encoding.limit_order(spec, OWNER, 0, o["client_id"], side, size, Decimal(o["price"]), gtbt)
    else:
        order = encoding.conditional_order(spec, OWNER, 0, o["client_id"], side, size,
                                           Decimal(o["trigger_price"]), Decimal(o["worst_price"]),
                                           kind == "take_profit", gtbt)
    return message.place_order(order)


def _key(vector: dict[str, Any]) -> tuple[KeyPair, list[int]]:
    if vector["key"] == "mnemonic":
        return KeyPair.from_mnemonic(normalize_mnemonic(KEYS["mnemonic"]["mnemonic"])), []
    api = KEYS["api_key"]
    return KeyPair.from_hex(normalize_private_key(api["private_key"])), [api["authenticator_id"]]


def _signed(vector: dict[str, Any]) -> bytes:
    """Our tx over the vector's envelope: the builder's signer info, fee and signature functions."""
    key, authenticators = _key(vector)
    body = encoding.tx_body(_message(vector), ENVELOPE["memo"], authenticators)
    assert ENVELOPE["fee_amount"] == [] and ENVELOPE["gas_limit"] == DEFAULT_FEE.gas_limit
    auth_info = AuthInfo(signer_infos=[get_signer_info(Wallet(key, 0, 0).public_key, vector["sequence"])],
                         fee=DEFAULT_FEE)
    signature = get_signature(key, body, auth_info, ENVELOPE["account_number"], ENVELOPE["chain_id"])
    return Tx(body=body, auth_info=auth_info, signatures=[signature]).SerializeToString()


def _js(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["tx"])


def _decoded(tx: bytes) -> str:
    raw = TxRaw.FromString(tx)
    body, auth_info = TxBody.FromString(raw.body_bytes), AuthInfo.FromString(raw.auth_info_bytes)
    msg = body.messages[0]
    kind = MsgPlaceOrder if msg.type_url.endswith("MsgPlaceOrder") else MsgCancelOrder
    extensions = [(e.type_url, e.value.hex()) for e in body.non_critical_extension_options]
    return (f"{text_format.MessageToString(kind.FromString(msg.value))}memo={body.memo!r} "
            f"timeout={body.timeout_height} extensions={extensions}\n{auth_info}"
            f"sig={raw.signatures[0].hex()}")


def _diff(ours: bytes, vector: dict[str, Any]) -> str:
    return f"ours:\n{_decoded(ours)}\nv4-client-js:\n{_decoded(_js(vector))}"


def _js_order(vector: dict[str, Any]) -> Order:
    body = TxBody.FromString(TxRaw.FromString(_js(vector)).body_bytes)
    return MsgPlaceOrder.FromString(body.messages[0].value).order


def test_the_vectors_cover_every_kind_with_both_keys():
    expected = {(kind, key) for kind in KINDS for key in ("mnemonic", "api_key")}
    assert {(v["kind"], v["key"]) for v in VECTORS} == expected
    assert GOLDEN["generator"]["@dydxprotocol/v4-client-js"] == "3.6.0"


@_by_name(VECTORS)
def test_message_bytes_equal_the_js_client(vector):
    ours = encoding.tx_body(_message(vector), ENVELOPE["memo"]).messages[0]
    theirs = TxBody.FromString(TxRaw.FromString(_js(vector)).body_bytes).messages[0]
    assert ours.type_url == theirs.type_url
    assert ours.value == theirs.value, _diff(_signed(vector), vector)


@_by_name(VECTORS)
def test_signed_transaction_equals_the_js_client(vector):
    ours = _signed(vector)
    assert ours == _js(vector), _diff(ours, vector)


@_by_name([v for v in VECTORS if not v["kind"].startswith("cancel")])
def test_client_metadata_is_what_the_js_client_sets(vector):
    # calculateClientMetadata: 1 for MARKET, STOP_MARKET and TAKE_PROFIT_MARKET, 0 for LIMIT
    expected = 0 if vector["kind"] == "limit" else 1
    assert _js_order(vector).client_metadata == expected
    assert MsgPlaceOrder.FromString(_message(vector).SerializeToString()).order.client_metadata == expected


@_by_name([v for v in VECTORS if v["kind"] in ("take_profit", "stop_loss")])
def test_conditional_orders_carry_the_js_condition_and_trigger(vector):
    ours, theirs = _message(vector).order, _js_order(vector)
    assert ours.order_id.order_flags == theirs.order_id.order_flags == OrderFlags.CONDITIONAL
    assert ours.condition_type == theirs.condition_type != Order.ConditionType.CONDITION_TYPE_UNSPECIFIED
    assert ours.conditional_order_trigger_subticks == theirs.conditional_order_trigger_subticks > 0


# -- the product's Signer --------------------------------------------------------------------------
# Signer.submit needs a node (account query, broadcast), so these call its `_sign` with the
# account number the node would have answered; the client is real and never connects.


@pytest.fixture
def testnet_client():
    client = DydxClient(DydxEndpoints(Network.TESTNET, "http://127.0.0.1:9", "http://127.0.0.1:9"))
    assert client.node.builder.chain_id == ENVELOPE["chain_id"]
    yield client
    client._raw_channel.close()


def _product_tx(signer: Signer, client: DydxClient, vector: dict[str, Any]) -> bytes:
    signer._account_number = ENVELOPE["account_number"]
    return signer._sign(client, _message(vector), vector["sequence"]).SerializeToString()


@_by_name([v for v in VECTORS if v["key"] == "api_key"])
def test_product_signer_with_an_api_key_signs_the_js_bytes(vector, testnet_client):
    api = KEYS["api_key"]
    signer = Signer.from_api_key(api["private_key"], api["owner"], api["authenticator_id"])
    ours = _product_tx(signer, testnet_client, vector)
    assert ours == _js(vector), _diff(ours, vector)


@_by_name([v for v in VECTORS if v["key"] == "mnemonic"])
def test_product_signer_with_a_mnemonic_signs_the_js_bytes(vector, testnet_client):
    # the owner's own key too: the body carries the empty TxExtension v4-client-js always writes
    signer = Signer.from_mnemonic(KEYS["mnemonic"]["mnemonic"])
    ours = _product_tx(signer, testnet_client, vector)
    assert ours == _js(vector), _diff(ours, vector)
