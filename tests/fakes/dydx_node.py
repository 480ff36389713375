"""An in-process fake dYdX node: a real gRPC server that decodes the real signed transactions.

    node = FakeDydxNode(exchange).start()      # grpc.server on 127.0.0.1:<port>, plaintext
    node.url                                    # "http://127.0.0.1:<port>" (plaintext for our client)
    node.add_account(owner)                     # on-chain account (number, sequence)
    node.add_authenticator(owner, api_pubkey)   # permissioned key -> authenticator id
    node.advance()                              # one block (dydx_blocks): matches, txs, EndBlocker
    node.auto_blocks(0.1)                       # or a block every 0.1 s
    node.foreign_tx(owner)                      # another client (the trader's app) uses a sequence
    node.fail_next("timeout")                   # faults, see `fail_next`
    node.broadcasts / node.mempool              # every CheckTx with its result; mempool and GetTx index

Services: `cosmos.auth.v1beta1.Query/Account` (committed sequence), `cosmos.base.tendermint.v1beta1.
Service/GetLatestBlock`, `cosmos.tx.v1beta1.Service/BroadcastTx` (SYNC: CheckTx only), `GetTx`,
`Simulate`, `dydxprotocol.accountplus.Query/GetAuthenticators`, `dydxprotocol.clob.Query/
BlockRateLimitConfiguration` (`node.stateful_limits`) and `EquityTierLimitConfiguration`
(`exchange.equity_tiers`), both mainnet genesis values unless a test sets others; the node enforces
them (5001 here, 10001 in dydx_checks).

BroadcastTx runs CheckTx as dYdX does: the tx cache (sdk 19, invalid txs kept: dydxprotocold
cmd/config.go KeepInvalidTxsInCache), stateless order checks, sequences (stateful txs only:
v4-chain protocol/app/ante/replay_protection.go; the CheckTx state advances at once while the Account
query shows the committed value; sequences >= 2**40 are timestamp nonces), signatures and
authenticators (dydx_auth), the stateful block rate limit (clob 5001, keeper/rate_limit.go), then the
clob checks (dydx_checks). Accepted stateful txs wait in the mempool (dydx_mempool) and are delivered
in the next block unless held; their sequence is consumed in DeliverTx even when the message fails
there (cosmos-sdk baseapp: the ante handler's writes are kept). The defaults are the chain's; faults
are explicit calls.
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
from dydx_v4_client.node.authenticators import Authenticator
from v4_proto.cosmos.base.abci.v1beta1.abci_pb2 import TxResponse
from v4_proto.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, SignDoc, TxBody, TxRaw

from tests.fakes import dydx_auth
from tests.fakes.dydx_blocks import BlockContext, end_block, run_operations
from tests.fakes.dydx_checks import (
    ClobRejection,
    check_message,
    decode_message,
    deliver_message,
    is_stateful,
    is_stateful_placement,
    owner_of,
)
from tests.fakes.dydx_exchange import DydxExchange
from tests.fakes.dydx_grpc import add_servicers
from tests.fakes.dydx_mempool import TTL_NUM_BLOCKS, Committed, Mempool, MempoolTx
from tests.fakes.dydx_protection import rate_limit_refusal, record_protection

TIMESTAMP_NONCE = 2**40
MEMPOOL_FAULTS = frozenset({"hold", "deliver"})


@dataclass
class SimAccount:
    address: str
    account_number: int
    committed: int = 0
    check: int = 0
    nonces: set[int] = field(default_factory=set)


@dataclass
class Fault:
    kind: str
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
                 verify_signatures: bool = True, timeout_sleep: float = 1.5,
                 mempool_ttl_blocks: int = TTL_NUM_BLOCKS) -> None:
        self.exchange = exchange
        self.chain_id = chain_id
        self.verify_signatures = verify_signatures
        self.timeout_sleep = timeout_sleep  # how long a "timeout" fault holds the answer
        self.accounts: dict[str, SimAccount] = {}
        self.authenticators: dict[str, list[dydx_auth.SimAuthenticator]] = {}
        self.mempool = Mempool(ttl_blocks=mempool_ttl_blocks)
        self.broadcasts: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.delays: dict[str, float] = {}
        self.placements: deque[tuple[str, int]] = deque()  # (owner, height) of stateful placements
        # clob BlockRateLimitConfiguration.max_stateful_orders_per_n_blocks as (num_blocks, limit);
        # mainnet genesis (protocol/testing/mainnet/genesis.json); served by the clob Query service
        self.stateful_limits: list[tuple[int, int]] = [(1, 2), (100, 20)]
        self._faults: deque[Fault] = deque()
        self.is_down = False
        self._flaky: tuple[int, str, str] = (0, "", "")
        self._server: grpc.Server | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._foreign = 0
        self.port = 0
        exchange.produce = self.advance

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

    def add_authenticator(self, owner: str, pubkey: bytes, *,
                          messages: tuple[str, ...] = dydx_auth.TRADING_MESSAGES,
                          subaccounts: tuple[int, ...] | None = (0,),
                          clob_pairs: tuple[int, ...] | None = None, any_of_messages: bool = False) -> int:
        """Register a permissioned key for `owner` (AllOf[key, filters]); returns its id."""
        return self.add_authenticator_tree(owner, dydx_auth.trading_key(
            pubkey, messages, subaccounts, clob_pairs, any_of_messages))

    def add_authenticator_tree(self, owner: str, authenticator: Authenticator) -> int:
        """Register any authenticator the real client library can build; returns its id."""
        with self.exchange.lock:
            existing = self.authenticators.setdefault(owner, [])
            auth_id = 1 + max((a.id for a in existing), default=-1)
            existing.append(dydx_auth.registered(auth_id, authenticator, owner))
            return auth_id

    def foreign_tx(self, owner: str) -> str:
        """Another client of `owner` (e.g. the trader's dYdX front end) sends a stateful tx now: it
        takes the owner's next sequence and is committed in the next block."""
        with self.exchange.lock:
            account = self.accounts[owner]
            self._foreign += 1
            tx_hash = hashlib.sha256(f"foreign-{owner}-{self._foreign}".encode()).hexdigest().upper()
            self.mempool.add(MempoolTx(tx_hash, b"", owner, account.check, None, self.exchange.height))
            account.check += 1
            return tx_hash

    def advance(self, blocks: int = 1) -> int:
        """Produce `blocks` blocks (dydx_blocks): operations, delivered txs, EndBlocker, commit."""
        with self.exchange.lock:
            for _ in range(blocks):
                exchange = self.exchange
                exchange.height += 1
                exchange.block_time = time.time()
                block = BlockContext()
                run_operations(exchange, block)
                record_protection(exchange)
                for entry in self.mempool.proposable():
                    self.mempool.record(self._deliver(entry, block))
                    record_protection(exchange)
                end_block(exchange)
                record_protection(exchange)
                exchange.committed_at[exchange.height] = time.time()
                self.mempool.purge_expired(exchange.height)
                self._recheck()
            return self.exchange.height

    def auto_blocks(self, interval: float) -> None:
        """Produce a block every `interval` seconds until `stop()`."""
        def run() -> None:
            while not self._stop.wait(interval):
                self.advance()
        self._ticker = threading.Thread(target=run, name="fake-dydx-blocks", daemon=True)
        self._ticker.start()

    @property
    def producing(self) -> bool:
        """True when blocks come on their own (`auto_blocks`)."""
        return self._ticker is not None

    def get_tx(self, tx_hash: str) -> Committed | None:
        with self.exchange.lock:
            return self.mempool.lookup(tx_hash)

    def _deliver(self, entry: MempoolTx, block: BlockContext) -> Committed:
        account = self.accounts[entry.owner]
        result = Committed(entry.tx_hash, entry.tx_bytes, self.exchange.height)
        if entry.sequence < TIMESTAMP_NONCE:
            if entry.sequence != account.committed:  # the ante handler fails: nothing is consumed
                result.code, result.codespace = 32, "sdk"
                result.log = (f"account sequence mismatch, expected {account.committed}, got "
                              f"{entry.sequence}: incorrect account sequence")
                return result
            account.committed += 1
        if entry.msg is None:
            return result
        try:
            if entry.deliver_fault is not None:
                raise ClobRejection(entry.deliver_fault[1], entry.deliver_fault[2], entry.deliver_fault[0])
            deliver_message(self.exchange, block, entry.msg, entry.tx_hash)
        except ClobRejection as e:
            result.code, result.codespace, result.log = e.code, e.codespace, e.log
        return result

    def _recheck(self) -> None:
        # after a commit the CheckTx state is the committed state plus the txs still in the mempool
        # (ReCheckTx); txs whose sequence is now used up leave the mempool
        for address, account in self.accounts.items():
            mine = self.mempool.pending_of(address)
            stale = [tx for tx in mine if tx.sequence < account.committed]
            self.mempool.pending = [tx for tx in self.mempool.pending if tx not in stale]
            live = [tx.sequence + 1 for tx in mine if account.committed <= tx.sequence < TIMESTAMP_NONCE]
            account.check = max([account.committed, *live])

    # -- faults ---------------------------------------------------------------------------------
    def fail_next(self, kind: str, *, rpc: str = "BroadcastTx", count: int = 1, code: int = 0,
                  codespace: str = "", log: str = "") -> None:
        """Inject a fault into the next `count` calls of `rpc`.

        Kinds: "drop" (UNAVAILABLE, nothing processed), "timeout" (processed, the answer is held
        past the client's deadline), "timeout_evicted" (the same, and the tx leaves the cache, so a
        resend is checked again), "timeout_unprocessed" (held, then dropped), "code" (answer
        `codespace`/`code`/`log` without processing), "sequence" (another client takes the owner's
        next sequence first: `foreign_tx`), "hold" (accepted, never proposed: dropped after the
        mempool TTL), "deliver" (accepted, then fails in DeliverTx with `codespace`/`code`/`log`).
        "hold" and "deliver" hit the next *stateful* tx (only those enter the mempool).
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
            # a mempool or DeliverTx fault can only hit a tx that gets there (a stateful one: short-term
            # orders never enter the mempool), so those wait for one (`_mempool_fault`)
            fault = next((f for f in self._faults if f.rpc == rpc and f.kind not in MEMPOOL_FAULTS), None)
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

    # -- BroadcastTx (CheckTx) ------------------------------------------------------------------
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
            if fault is not None and fault.kind == "timeout_evicted":
                self.mempool.forget(tx_hash)
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
        selected = dydx_auth.selected_authenticators(body)
        record.update(type_url=body.messages[0].type_url, msg=msg, sequence=signer.sequence,
                      authenticators=selected, pubkey=pubkey.key, memo=body.memo)
        if self.mempool.seen(tx_hash):  # decoded above only to record what was resent
            raise _Reject("sdk", 19, "tx already exists in cache")
        self.mempool.remember(tx_hash)  # valid or not (KeepInvalidTxsInCache)
        owner = owner_of(msg)
        account = self.accounts.get(owner)
        if account is None:
            raise _Reject("sdk", 9, f"account {owner} not found: unknown address")
        if fault is not None and fault.kind == "sequence":
            self.foreign_tx(owner)
        stateful = is_stateful(msg)
        if stateful:
            self._check_sequence(account, signer.sequence)
        if self.verify_signatures:
            self._verify(raw, account, owner, pubkey.key, selected, body.messages[0].type_url, msg)
        if is_stateful_placement(msg):
            self._rate_limit(owner)  # counts this attempt whatever the clob checks then say
        try:
            check_message(self.exchange, self.mempool, msg, tx_hash)
        except ClobRejection as e:
            raise _Reject(e.codespace, e.code, e.log) from None
        if not stateful:
            return  # short-term: in the memclob now, never in the mempool
        fault = fault or self._mempool_fault()
        held = fault is not None and fault.kind == "hold"
        forced = (fault.codespace or "clob", fault.code, fault.log or "fault injected in DeliverTx") if (
            fault is not None and fault.kind == "deliver") else None
        self.mempool.add(MempoolTx(tx_hash, tx_bytes, owner, signer.sequence, msg, self.exchange.height,
                                   held, forced))
        if signer.sequence < TIMESTAMP_NONCE:
            account.check += 1
        else:
            account.nonces.add(signer.sequence)

    def _mempool_fault(self) -> Fault | None:
        """The first queued mempool or DeliverTx fault, taken by the stateful tx entering the mempool."""
        fault = next((f for f in self._faults if f.rpc == "BroadcastTx" and f.kind in MEMPOOL_FAULTS), None)
        if fault is not None:
            self._faults.remove(fault)
        return fault

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
            dydx_auth.verify(self.authenticators.get(owner, []), selected, signature=raw.signatures[0],
                             sign_doc=doc, pubkey=pubkey, owner=owner, type_url=type_url, msg=msg,
                             account_number=account.account_number, chain_id=self.chain_id)
        except dydx_auth.AuthFailure as e:
            raise _Reject(e.codespace, e.code, e.log) from None

    def _rate_limit(self, owner: str) -> None:
        self.placements.append((owner, self.exchange.height + 1))  # CheckTx runs against the next block
        refusal = rate_limit_refusal(self.placements, self.stateful_limits, owner)
        if refusal is not None:
            raise _Reject("clob", 5001, refusal)
