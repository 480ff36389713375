"""An in-process fake dYdX node: a real gRPC server that decodes the real signed transactions.

    node = FakeDydxNode(exchange).start()      # grpc.server on 127.0.0.1:<port>, plaintext
    node.url                                    # "http://127.0.0.1:<port>" (plaintext for our client)
    node.add_account(owner)                     # on-chain account (number, sequence)
    node.add_authenticator(owner, api_pubkey)   # permissioned key -> authenticator id
    node.advance()                              # one block: commit sequences, expire, trigger
    node.auto_blocks(0.1)                       # or a block every 0.1 s
    node.fail_next("timeout")                   # faults, see `fail_next`
    node.flaky(every=2, kind="timeout")         # every 2nd BroadcastTx gets that fault
    node.slow("GetLatestBlock", 1.0)            # every such call takes 1 s
    node.down(); node.up()                      # every RPC answers UNAVAILABLE meanwhile
    node.broadcasts                             # every decoded BroadcastTx with its result

Services: `cosmos.auth.v1beta1.Query/Account` (committed sequence, like the real query),
`cosmos.base.tendermint.v1beta1.Service/GetLatestBlock`, `cosmos.tx.v1beta1.Service/BroadcastTx`
(+ `Simulate`), `dydxprotocol.accountplus.Query/GetAuthenticators`.

BroadcastTx behaves like CheckTx on dYdX: the mempool cache (sdk 19), stateless order checks
(`dydx_checks`), sequence rules (stateful txs only; CheckTx state advances at once while the
Account query shows the committed value; sequences >= 2**40 are timestamp nonces), signature
verification with coincurve over the rebuilt SignDoc (owner key, or an authenticator selected
through the TxExtension), the stateful block rate limit (clob 5001), then the exchange's
stateful checks. Accepted messages go to the shared `DydxExchange`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from coincurve import PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from dydx_v4_client.node.authenticators import Authenticator, AuthenticatorType
from dydx_v4_client.node.message import add_authenticator
from dydx_v4_client.wallet import Wallet
from v4_proto.cosmos.base.abci.v1beta1.abci_pb2 import TxResponse
from v4_proto.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, SignDoc, TxBody, TxRaw
from v4_proto.dydxprotocol.accountplus.tx_pb2 import TxExtension

from tests.fakes.dydx_checks import (
    ClobRejection,
    apply_message,
    decode_message,
    is_stateful,
    is_stateful_placement,
)
from tests.fakes.dydx_exchange import DydxExchange
from tests.fakes.dydx_grpc import add_servicers

TRADING_MESSAGES = ("/dydxprotocol.clob.MsgPlaceOrder", "/dydxprotocol.clob.MsgCancelOrder",
                    "/dydxprotocol.clob.MsgBatchCancel")
TIMESTAMP_NONCE = 2**40


@dataclass
class SimAccount:
    address: str
    account_number: int
    committed: int = 0
    check: int = 0
    nonces: set[int] = field(default_factory=set)


@dataclass
class SimAuthenticator:
    id: int
    pubkey: bytes
    messages: tuple[str, ...]
    subaccounts: tuple[int, ...] | None
    clob_pairs: tuple[int, ...] | None
    config: bytes


@dataclass
class Fault:
    kind: str  # drop | timeout | timeout_unprocessed | code | sequence
    rpc: str = "BroadcastTx"
    code: int = 0
    codespace: str = ""
    log: str = ""


class _Reject(Exception):
    def __init__(self, codespace: str, code: int, log: str) -> None:
        super().__init__(log)
        self.codespace, self.code, self.log = codespace, code, log


class FakeDydxNode:
    """The fake node; see the module docstring."""

    def __init__(self, exchange: DydxExchange, *, chain_id: str = "dydx-testnet-4",
                 verify_signatures: bool = True, timeout_sleep: float = 1.5) -> None:
        self.exchange = exchange
        self.chain_id = chain_id
        self.verify_signatures = verify_signatures
        self.timeout_sleep = timeout_sleep  # how long a "timeout" fault holds the answer
        self.accounts: dict[str, SimAccount] = {}
        self.authenticators: dict[str, list[SimAuthenticator]] = {}
        self.mempool: set[str] = set()
        self.broadcasts: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.delays: dict[str, float] = {}
        self.placements: deque[tuple[str, int]] = deque()  # (owner, height) of stateful placements
        self.per_block, self.per_window, self.window = 2, 20, 100
        self._faults: deque[Fault] = deque()
        self.is_down = False
        self._flaky: tuple[int, str, str] = (0, "", "")
        self._server: grpc.Server | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeDydxNode:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        add_servicers(self, server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        if self._server is not None:
            self._server.stop(0)

    def __enter__(self) -> FakeDydxNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- chain state ----------------------------------------------------------------------------
    def add_account(self, address: str, sequence: int = 0, account_number: int | None = None) -> SimAccount:
        with self.exchange.lock:
            number = account_number if account_number is not None else 100 + len(self.accounts)
            account = SimAccount(address, number, sequence, sequence)
            self.accounts[address] = account
            return account

    def add_authenticator(self, owner: str, pubkey: bytes, *, messages: tuple[str, ...] = TRADING_MESSAGES,
                          subaccounts: tuple[int, ...] | None = (0,),
                          clob_pairs: tuple[int, ...] | None = None) -> int:
        """Register a permissioned key for `owner`, encoded as the real client would; returns its id."""
        parts = [Authenticator.signature_verification(pubkey),
                 Authenticator.message_filter(",".join(messages))]
        if subaccounts is not None:
            parts.append(Authenticator.subaccount_filter(list(subaccounts)))
        if clob_pairs is not None:
            parts.append(Authenticator.clob_pair_id_filter(list(clob_pairs)))
        composed = Authenticator.compose(AuthenticatorType.AllOf, parts)
        config = add_authenticator(owner, composed.type, composed.config).data
        with self.exchange.lock:
            existing = self.authenticators.setdefault(owner, [])
            auth_id = 1 + max((a.id for a in existing), default=-1)
            existing.append(SimAuthenticator(auth_id, pubkey, messages, subaccounts, clob_pairs, config))
            return auth_id

    def commit(self) -> None:
        with self.exchange.lock:
            for account in self.accounts.values():
                account.committed = account.check

    def advance(self, blocks: int = 1) -> int:
        """Produce `blocks` blocks: commit sequences, then let the exchange run."""
        with self.exchange.lock:
            for _ in range(blocks):
                self.commit()
                self.exchange.advance(1)
            return self.exchange.height

    def auto_blocks(self, interval: float) -> None:
        """Produce a block every `interval` seconds until `stop()`."""
        def run() -> None:
            while not self._stop.wait(interval):
                self.advance()
        self._ticker = threading.Thread(target=run, name="fake-dydx-blocks", daemon=True)
        self._ticker.start()

    # -- faults ---------------------------------------------------------------------------------
    def fail_next(self, kind: str, *, rpc: str = "BroadcastTx", count: int = 1, code: int = 0,
                  codespace: str = "", log: str = "") -> None:
        """Inject a fault into the next `count` calls of `rpc`.

        Kinds: "drop" (UNAVAILABLE, nothing processed), "timeout" (processed, the answer is held
        past the client's deadline), "timeout_evicted" (the same, and the tx leaves the mempool
        cache, as after a commit: a resend meets the consumed sequence), "timeout_unprocessed"
        (held, then dropped), "code" (answer
        `codespace`/`code`/`log` without processing), "sequence" (someone else used the owner's
        sequence first: the tx meets a mismatch).
        """
        with self.exchange.lock:
            self._faults.extend(Fault(kind, rpc, code, codespace, log) for _ in range(count))

    def flaky(self, every: int, kind: str = "timeout", rpc: str = "BroadcastTx") -> None:
        """From now on, every `every`-th call of `rpc` gets fault `kind` (0 turns it off)."""
        self._flaky = (every, kind, rpc)

    def slow(self, rpc: str, seconds: float) -> None:
        self.delays[rpc] = seconds

    def down(self) -> None:
        """Answer every RPC with UNAVAILABLE (as an unreachable node does) until `up()`."""
        self.is_down = True

    def up(self) -> None:
        self.is_down = False

    def _enter(self, rpc: str, context: grpc.ServicerContext) -> Fault | None:
        with self.exchange.lock:
            self.calls.append(rpc)
            fault = next((f for f in self._faults if f.rpc == rpc), None)
            if fault is not None:
                self._faults.remove(fault)
            every, kind, flaky_rpc = self._flaky
            if fault is None and every and rpc == flaky_rpc and self.calls.count(rpc) % every == 0:
                fault = Fault(kind, rpc)
        if self.is_down:
            context.abort(grpc.StatusCode.UNAVAILABLE, "fault injected: node unreachable")
        if self.delays.get(rpc):
            time.sleep(self.delays[rpc])
        if fault is not None and fault.kind == "drop":
            context.abort(grpc.StatusCode.UNAVAILABLE, "fault injected: connection dropped")
        if fault is not None and fault.kind == "timeout_unprocessed":
            time.sleep(self.timeout_sleep)
            context.abort(grpc.StatusCode.UNAVAILABLE, "fault injected: never processed")
        return fault

    # -- BroadcastTx ----------------------------------------------------------------------------
    def broadcast(self, tx_bytes: bytes, fault: Fault | None) -> TxResponse:
        tx_hash = hashlib.sha256(tx_bytes).hexdigest().upper()
        record: dict[str, Any] = {"tx_hash": tx_hash}
        with self.exchange.lock:
            try:
                if fault is not None and fault.kind == "code":
                    raise _Reject(fault.codespace, fault.code, fault.log or "fault injected")
                self._check_tx(tx_bytes, tx_hash, record, fault)
                code, codespace, log = 0, "", ""
            except _Reject as e:
                code, codespace, log = e.code, e.codespace, e.log
            record.update(code=code, codespace=codespace, raw_log=log, height=self.exchange.height)
            self.broadcasts.append(record)
        return TxResponse(code=code, codespace=codespace, raw_log=log, txhash=tx_hash)

    def _check_tx(self, tx_bytes: bytes, tx_hash: str, record: dict[str, Any], fault: Fault | None) -> None:
        raw = TxRaw.FromString(tx_bytes)
        body, auth_info = TxBody.FromString(raw.body_bytes), AuthInfo.FromString(raw.auth_info_bytes)
        if len(body.messages) != 1:
            raise _Reject("sdk", 1, "dYdX clob transactions carry exactly one message")
        try:
            msg = decode_message(body.messages[0])
        except ClobRejection as e:
            raise _Reject(e.codespace, e.code, e.log) from None
        signer = auth_info.signer_infos[0]
        pubkey = PubKey()
        signer.public_key.Unpack(pubkey)
        authenticators = _selected_authenticators(body)
        record.update(type_url=body.messages[0].type_url, msg=msg, sequence=signer.sequence,
                      authenticators=authenticators, pubkey=pubkey.key, memo=body.memo)
        if tx_hash in self.mempool:  # decoded above only to record what was resent
            raise _Reject("sdk", 19, "tx already exists in cache")
        owner = msg.order.order_id.subaccount_id.owner if hasattr(msg, "order") else (
            msg.order_id.subaccount_id.owner if hasattr(msg, "order_id") else msg.subaccount_id.owner)
        account = self.accounts.get(owner)
        if account is None:
            raise _Reject("sdk", 9, f"account {owner} not found: unknown address")
        if fault is not None and fault.kind == "sequence":
            account.check += 1
        stateful = is_stateful(msg)
        if stateful:
            self._check_sequence(account, signer.sequence)
        if self.verify_signatures:
            self._verify(raw, account, owner, pubkey.key, authenticators, body.messages[0].type_url, msg)
        if is_stateful_placement(msg):
            self._rate_limit(owner)
        try:
            apply_message(self.exchange, msg, tx_hash)
        except ClobRejection as e:
            raise _Reject(e.codespace, e.code, e.log) from None
        self.mempool.add(tx_hash)
        if stateful and signer.sequence < TIMESTAMP_NONCE:
            account.check += 1
        elif stateful:
            account.nonces.add(signer.sequence)
        if is_stateful_placement(msg):
            self.placements.append((owner, self.exchange.height + 1))

    def _check_sequence(self, account: SimAccount, sequence: int) -> None:
        if sequence >= TIMESTAMP_NONCE:
            if abs(sequence / 1000 - self.exchange.block_time) > 30 or sequence in account.nonces:
                raise _Reject("sdk", 32, f"timestamp nonce {sequence} is stale, early or already used")
            return
        if sequence != account.check:
            raise _Reject("sdk", 32, f"account sequence mismatch, expected {account.check}, got {sequence}: "
                                     "incorrect account sequence")

    def _verify(self, raw: TxRaw, account: SimAccount, owner: str, pubkey: bytes, selected: list[int],
                type_url: str, msg: Any) -> None:
        doc = SignDoc(body_bytes=raw.body_bytes, auth_info_bytes=raw.auth_info_bytes, chain_id=self.chain_id,
                      account_number=account.account_number).SerializeToString()
        try:
            valid = PublicKey(pubkey).verify(cdata_to_der(deserialize_compact(raw.signatures[0])), doc)
        except Exception:  # noqa: BLE001 - malformed key or signature
            valid = False
        if selected:
            auth = next((a for a in self.authenticators.get(owner, []) if a.id == selected[0]), None)
            if auth is None:
                raise _Reject("accountplus", 3, f"authenticator {selected[0]} not found for {owner}")
            reason = None if valid and auth.pubkey == pubkey else "signature verification failed"
            reason = reason or _filter_reason(auth, type_url, msg)
            if reason:
                raise _Reject("sdk", 4, f"authentication failed for message 0, authenticator id {auth.id}, "
                                        f"type AllOf: {reason}: unauthorized")
            return
        if not valid or _address_of(pubkey) != owner:
            raise _Reject("sdk", 4, f"signature verification failed; please verify account number "
                                    f"({account.account_number}) and chain-id ({self.chain_id}): "
                                    "unauthorized")

    def _rate_limit(self, owner: str) -> None:
        height = self.exchange.height + 1  # CheckTx runs against the next block
        while self.placements and self.placements[0][1] <= height - self.window:
            self.placements.popleft()
        mine = [h for o, h in self.placements if o == owner]
        if mine.count(height) >= self.per_block or len(mine) >= self.per_window:
            raise _Reject("clob", 5001, f"Block rate limit exceeded: more than {self.per_block} "
                                        "stateful orders per block: block rate limit exceeded")


def _selected_authenticators(body: TxBody) -> list[int]:
    for option in body.non_critical_extension_options:
        if option.type_url == "/dydxprotocol.accountplus.TxExtension":
            ext = TxExtension()
            option.Unpack(ext)
            return list(ext.selected_authenticators)
    return []


def _filter_reason(auth: SimAuthenticator, type_url: str, msg: Any) -> str | None:
    if type_url not in auth.messages:
        return f"message type {type_url} not allowed"
    order_id = msg.order.order_id if hasattr(msg, "order") else getattr(msg, "order_id", None)
    subaccount = order_id.subaccount_id.number if order_id is not None else msg.subaccount_id.number
    if auth.subaccounts is not None and subaccount not in auth.subaccounts:
        return f"subaccount {subaccount} not allowed"
    if auth.clob_pairs is not None and order_id is not None and order_id.clob_pair_id not in auth.clob_pairs:
        return f"clob pair {order_id.clob_pair_id} not allowed"
    return None


def _address_of(pubkey: bytes) -> str:
    class _Key:
        public_key_bytes = pubkey
    return Wallet(_Key(), 0, 0).address  # type: ignore[arg-type]
