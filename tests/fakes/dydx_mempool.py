"""The fake node's mempool, tx cache and committed-tx index (what `GetTx` answers from).

What it follows:
- BroadcastTx in SYNC mode answers with CheckTx only; an accepted stateful tx waits in the mempool
  and is delivered in a later block (cosmos-sdk x/auth/tx/service.go BroadcastTx; dYdX v4-chain
  protocol/x/clob/keeper/msg_server_place_order.go: stateful orders execute in DeliverTx).
- Mempool txs not included within `TTLNumBlocks` = 40 blocks are dropped
  (v4-chain protocol/cmd/dydxprotocold/cmd/config.go `cfg.Mempool.TTLNumBlocks = 40`).
- The tx cache remembers every tx it checked, valid or not (`KeepInvalidTxsInCache = true`, same
  file): the same bytes again answer sdk 19 "tx already exists in cache".
- Short-term clob txs never enter the mempool: they go to the memclob at CheckTx and are never
  included in a block as txs (v4-chain protocol/app/ante.go, x/clob/ante/clob.go), so `GetTx`
  never finds them (dydx-v4.md §5.2).
- `GetTx` answers committed txs with their DeliverTx result and NOT_FOUND otherwise
  (cosmos-sdk x/auth/tx/service.go GetTx: codes.NotFound "tx not found: <hash>").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TTL_NUM_BLOCKS = 40


@dataclass
class MempoolTx:
    tx_hash: str
    tx_bytes: bytes
    owner: str
    sequence: int  # >= 2**40: a timestamp nonce
    msg: Any  # a decoded clob message, or None for another client's unrelated tx
    entered: int  # the node's height when CheckTx accepted it
    held: bool = False  # never proposed (a fault): dropped at the TTL
    deliver_fault: tuple[str, int, str] | None = None  # (codespace, code, log) forced in DeliverTx


@dataclass
class Committed:
    """A delivered tx: what `GetTx` returns (`tx_response.height/code/codespace/raw_log`)."""

    tx_hash: str
    tx_bytes: bytes
    height: int
    code: int = 0
    codespace: str = ""
    log: str = ""


@dataclass
class Mempool:
    ttl_blocks: int = TTL_NUM_BLOCKS
    pending: list[MempoolTx] = field(default_factory=list)
    cache: set[str] = field(default_factory=set)
    committed: dict[str, Committed] = field(default_factory=dict)
    dropped: list[MempoolTx] = field(default_factory=list)

    def seen(self, tx_hash: str) -> bool:
        return tx_hash in self.cache

    def remember(self, tx_hash: str) -> None:
        self.cache.add(tx_hash)

    def forget(self, tx_hash: str) -> None:
        """Evict from the cache (a fault: a resend is checked again)."""
        self.cache.discard(tx_hash)

    def add(self, entry: MempoolTx) -> None:
        self.pending.append(entry)

    def proposable(self) -> list[MempoolTx]:
        """The txs the next block includes, in arrival order (held ones stay behind)."""
        chosen = [tx for tx in self.pending if not tx.held]
        self.pending = [tx for tx in self.pending if tx.held]
        return chosen

    def purge_expired(self, height: int) -> None:
        """After committing `height`: drop txs that have waited more than the TTL (CometBFT
        mempool purgeExpiredTxs on Update, configured by TTLNumBlocks)."""
        expired = [tx for tx in self.pending if height - tx.entered > self.ttl_blocks]
        self.pending = [tx for tx in self.pending if tx not in expired]
        self.dropped.extend(expired)

    def pending_of(self, owner: str) -> list[MempoolTx]:
        return [tx for tx in self.pending if tx.owner == owner]

    def record(self, result: Committed) -> None:
        self.committed[result.tx_hash] = result

    def lookup(self, tx_hash: str) -> Committed | None:
        return self.committed.get(tx_hash.upper())
