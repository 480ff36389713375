"""Signature and authenticator checks of the fake dYdX node, evaluated as the chain does.

- Without a selected authenticator the tx must be signed by the owner's own key over the SignDoc
  (cosmos-sdk x/auth/ante/sigverify.go): sdk 4 "unauthorized" otherwise.
- With `TxExtension.selected_authenticators` the owner's authenticator decides
  (v4-chain protocol/x/accountplus/ante/ante.go: "authentication failed for message %d,
  authenticator id %d, type %s"), as a tree (protocol/x/accountplus/authenticator/):
  `AllOf` needs every sub-authenticator (all_of.go, accountplus 104), `AnyOf` succeeds as soon as one
  does (any_of.go, accountplus 105), `SignatureVerification` checks the signature against its key
  (signature_authenticator.go, 100), `MessageFilter` / `SubaccountFilter` / `ClobPairIdFilter` take
  a ","-separated whitelist (constants.go SEPARATOR; message_filter.go 101, clob_pair_id_filter.go 102,
  subaccount_filter.go 103; the two id filters pass messages that carry no such id).
Composite configs are JSON lists of `{"type", "config": base64}` (composite.go
SubAuthenticatorInitData), the bytes `MsgAddAuthenticator.authenticator_data` carries.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from dydx_v4_client.node.authenticators import Authenticator, AuthenticatorType
from dydx_v4_client.node.message import add_authenticator
from dydx_v4_client.wallet import Wallet
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import TxBody
from v4_proto.dydxprotocol.accountplus.tx_pb2 import TxExtension
from v4_proto.dydxprotocol.clob.tx_pb2 import MsgBatchCancel

TRADING_MESSAGES = ("/dydxprotocol.clob.MsgPlaceOrder", "/dydxprotocol.clob.MsgCancelOrder",
                    "/dydxprotocol.clob.MsgBatchCancel")
_CODES = {"SignatureVerification": 100, "MessageFilter": 101, "ClobPairIdFilter": 102,
          "SubaccountFilter": 103, "AllOf": 104, "AnyOf": 105}


class AuthFailure(Exception):
    def __init__(self, codespace: str, code: int, log: str) -> None:
        super().__init__(log)
        self.codespace, self.code, self.log = codespace, code, log


@dataclass
class SimAuthenticator:
    id: int
    type: str
    config: bytes  # as stored on chain (for composites: MsgAddAuthenticator.authenticator_data)


def registered(auth_id: int, authenticator: Authenticator, owner: str) -> SimAuthenticator:
    """What the chain stores for an authenticator the real client library built and sent."""
    data = add_authenticator(owner, authenticator.type, authenticator.config).data
    return SimAuthenticator(auth_id, str(authenticator.type.value), data)


def trading_key(pubkey: bytes, messages: tuple[str, ...] = TRADING_MESSAGES,
                subaccounts: tuple[int, ...] | None = (0,), clob_pairs: tuple[int, ...] | None = None,
                any_of_messages: bool = False) -> Authenticator:
    """AllOf[SignatureVerification, message filter(s), SubaccountFilter?, ClobPairIdFilter?].

    `any_of_messages` builds dydx.trade's shape (v4-web trading-key-utils.ts, v4-client-js
    `getAuthorizeNewTradingKeyArguments`): AnyOf of one MessageFilter per message type.
    """
    if any_of_messages:
        filters = Authenticator.compose(AuthenticatorType.AnyOf,
                                        [Authenticator.message_filter(m) for m in messages])
    else:
        filters = Authenticator.message_filter(",".join(messages))
    parts = [Authenticator.signature_verification(pubkey), filters]
    if subaccounts is not None:
        parts.append(Authenticator.subaccount_filter(list(subaccounts)))
    if clob_pairs is not None:
        parts.append(Authenticator.clob_pair_id_filter(list(clob_pairs)))
    return Authenticator.compose(AuthenticatorType.AllOf, parts)


def signature_valid(pubkey: bytes, signature: bytes, sign_doc: bytes) -> bool:
    try:
        return PublicKey(pubkey).verify(cdata_to_der(deserialize_compact(signature)), sign_doc)
    except Exception:  # noqa: BLE001 - malformed key or signature
        return False


def address_of(pubkey: bytes) -> str:
    class _Key:
        public_key_bytes = pubkey
    return Wallet(_Key(), 0, 0).address  # type: ignore[arg-type]


def selected_authenticators(body: TxBody) -> list[int]:
    """The authenticator ids a tx selects (`TxExtension` in its non-critical extension options)."""
    for option in body.non_critical_extension_options:
        if option.type_url == "/dydxprotocol.accountplus.TxExtension":
            ext = TxExtension()
            option.Unpack(ext)
            return list(ext.selected_authenticators)
    return []


def verify(owned: list[SimAuthenticator], selected: list[int], *, signature: bytes, sign_doc: bytes,
           pubkey: bytes, owner: str, type_url: str, msg: Any, account_number: int, chain_id: str) -> None:
    """Authenticate a tx for `owner`: through its selected authenticator, or its own key."""
    if selected:
        auth = next((a for a in owned if a.id == selected[0]), None)
        if auth is None:
            raise AuthFailure("accountplus", 1, f"authenticator {selected[0]} not found for {owner}: "
                                                "Authenticator is not found")
        authenticate(auth, signature=signature, sign_doc=sign_doc, type_url=type_url, msg=msg, account=owner)
        return
    if not signature_valid(pubkey, signature, sign_doc) or address_of(pubkey) != owner:
        raise AuthFailure("sdk", 4, f"signature verification failed; please verify account number "
                                    f"({account_number}) and chain-id ({chain_id}): unauthorized")


def authenticate(auth: SimAuthenticator, *, signature: bytes, sign_doc: bytes, type_url: str, msg: Any,
                 account: str) -> None:
    """Run `auth` for one message; raise AuthFailure with the chain's codespace/code/log."""
    try:
        _run(auth.type, auth.config, signature, sign_doc, type_url, msg, account)
    except AuthFailure as e:
        raise AuthFailure(e.codespace, e.code, f"authentication failed for message 0, authenticator id "
                                               f"{auth.id}, type {auth.type}: {e.log}") from None


def _run(kind: str, config: bytes, signature: bytes, sign_doc: bytes, type_url: str, msg: Any,
         account: str) -> None:
    if kind in ("AllOf", "AnyOf"):
        subs = [(e["type"], base64.b64decode(e["config"])) for e in json.loads(bytes(config).decode())]
        errors = []
        for sub_kind, sub_config in subs:
            try:
                _run(sub_kind, sub_config, signature, sign_doc, type_url, msg, account)
            except AuthFailure as e:
                if kind == "AllOf":
                    raise AuthFailure("accountplus", _CODES["AllOf"], e.log) from None
                errors.append(f"[{sub_kind}] {e.log}")
                continue
            if kind == "AnyOf":
                return
        if kind == "AnyOf":
            raise AuthFailure("accountplus", _CODES["AnyOf"], "all sub-authenticators failed to "
                              f"authenticate: {'; '.join(errors)}")
        return
    if kind == "SignatureVerification":
        if not signature_valid(bytes(config), signature, sign_doc):
            raise AuthFailure("accountplus", _CODES[kind], f"signature verification failed; please verify "
                              f"account number, sequence and chain-id of {account}")
        return
    allowed = set(bytes(config).decode().split(","))
    if kind == "MessageFilter":
        if type_url not in allowed:
            raise AuthFailure("accountplus", _CODES[kind], f"message types do not match. Got {type_url}")
        return
    for value in _ids(kind, msg):
        if str(value) not in allowed:
            what = "subaccount number" if kind == "SubaccountFilter" else "order id"
            raise AuthFailure("accountplus", _CODES[kind],
                              f"{what} {value} not in whitelist {sorted(allowed)}")


def _ids(kind: str, msg: Any) -> list[int]:
    if isinstance(msg, MsgBatchCancel):
        if kind == "SubaccountFilter":
            return [msg.subaccount_id.number]
        return [batch.clob_pair_id for batch in msg.short_term_cancels]
    order_id = msg.order.order_id if hasattr(msg, "order") else getattr(msg, "order_id", None)
    if order_id is None:
        return []  # not a clob message: the id filters let it through
    return [order_id.subaccount_id.number] if kind == "SubaccountFilter" else [order_id.clob_pair_id]
