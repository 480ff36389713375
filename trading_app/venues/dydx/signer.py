"""Sign and broadcast dYdX transactions for one owner account, one at a time.

Sequence handling (dydx-v4.md §2): the node's Account query returns *committed*
state, so re-reading it before each tx (what 1.1.5's SequenceManager does) makes a
second stateful tx in the same block fail with sdk 32. We keep a local sequence,
seeded from the chain, advanced only after code 0 for stateful txs, and resynced
from the "expected N" of a mismatch (then retried once with the same order).

Idempotency: a tx is built and signed once; after a transport failure the *same
bytes* are resent, never a rebuilt order. A duplicate of already-accepted bytes
comes back as "already in the mempool" (sdk 19) or, once committed, as a sequence
mismatch expecting the next sequence; both mean our first copy landed.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.node.builder import TxOptions
from dydx_v4_client.wallet import Wallet
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import Tx

from trading_app.venues.dydx import errors as codes
from trading_app.venues.dydx.client import DydxClient
from trading_app.venues.dydx.credentials import (
    InvalidCredential,
    check_trading_authenticator,
    normalize_authenticator_id,
    normalize_dydx_address,
    normalize_mnemonic,
    normalize_private_key,
)
from trading_app.venues.dydx.ratelimit import BlockRateLimiter
from trading_app.venues.errors import VenueTemporaryError


@dataclass(frozen=True)
class TxResult:
    """An accepted broadcast (code 0 or an equivalent duplicate)."""

    tx_hash: str
    sequence: int
    code: int = 0
    codespace: str = ""
    resent: bool = False


class Signer:
    """Signs for one owner on one chain with a mnemonic or a permissioned API key.

    Use `from_mnemonic` or `from_api_key`. Signing is serialized by an asyncio.Lock,
    so the local sequence never races; one instance per (owner, network).
    """

    def __init__(
        self,
        key: KeyPair,
        owner_address: str,
        authenticator_id: int | None = None,
        *,
        limiter: BlockRateLimiter | None = None,
        resends: int = 2,
        resend_backoff: float = 0.2,
    ) -> None:
        self._wallet = Wallet(key, 0, 0)
        self.owner_address = owner_address
        self.authenticator_id = authenticator_id
        self.limiter = limiter or BlockRateLimiter()
        self.resends = resends
        self.resend_backoff = resend_backoff
        self._lock = asyncio.Lock()
        self._account_number: int | None = None
        self._sequence: int | None = None

    def __repr__(self) -> str:  # never show key material
        kind = "api_key" if self.authenticator_id is not None else "mnemonic"
        return f"Signer({kind}, owner={self.owner_address})"

    @classmethod
    def from_mnemonic(cls, mnemonic: str, **kwargs: Any) -> Signer:
        """A signer whose owner address is derived from the phrase (never taken on trust)."""
        key = KeyPair.from_mnemonic(normalize_mnemonic(mnemonic))
        return cls(key, Wallet(key, 0, 0).address, None, **kwargs)

    @classmethod
    def from_api_key(
        cls, private_key_hex: str, owner_address: str, authenticator_id: int | str, **kwargs: Any
    ) -> Signer:
        """A permissioned trading key signing for `owner_address` through an authenticator.

        Raises:
            InvalidCredential: a malformed key, address or authenticator id.
        """
        key = KeyPair.from_hex(normalize_private_key(private_key_hex))
        return cls(key, normalize_dydx_address(owner_address), normalize_authenticator_id(authenticator_id),
                   **kwargs)

    @property
    def public_key(self) -> bytes:
        """The signing key's 33-byte compressed public key."""
        return self._wallet.key.public_key_bytes

    @property
    def sequence(self) -> int | None:
        """The next stateful sequence, or None until synced."""
        return self._sequence

    async def check_authenticator(self, client: DydxClient) -> None:
        """Confirm on chain that the owner's authenticator names this key and allows trading only.

        Raises:
            InvalidCredential: no such authenticator, another key's, or one that allows more.
            VenueError: the node cannot be asked.
        """
        if self.authenticator_id is None:
            return
        found = [a for a in await client.authenticators(self.owner_address) if a.id == self.authenticator_id]
        if not found:
            raise InvalidCredential(f"{self.owner_address} has no authenticator {self.authenticator_id}")
        check_trading_authenticator(found[0].type, found[0].config, self.public_key)

    async def resync(self, client: DydxClient) -> None:
        """Read the owner's account number and committed sequence from the node."""
        self._account_number, self._sequence = await client.account(self.owner_address)

    def _sign(self, client: DydxClient, msg: Any, sequence: int) -> Tx:
        if self.authenticator_id is None:
            self._wallet.account_number, self._wallet.sequence = self._account_number, sequence
            return client.node.builder.build(self._wallet, msg)
        options = TxOptions([self.authenticator_id], sequence, self._account_number)
        return client.node.builder.build(self._wallet, msg, tx_options=options)

    async def submit(
        self, client: DydxClient, msg: Any, *, stateful: bool, placement: bool = False
    ) -> TxResult:
        """Sign `msg` and broadcast it until accepted or refused for good.

        Args:
            client: The network's node client.
            msg: One clob message (MsgPlaceOrder, MsgCancelOrder, MsgBatchCancel).
            stateful: Long-term/conditional order or cancel: consumes a sequence.
            placement: A stateful placement: counted by the block rate limiter.

        Returns:
            The accepted tx's hash and sequence.

        Raises:
            VenueError: mapped from the final response or transport failure.
        """
        async with self._lock:
            height = await self.limiter.wait_turn(client.latest_height) if placement else None
            retries = {"sequence": 1, "rate": 1 if placement else 0}
            while True:
                if self._account_number is None or (stateful and self._sequence is None):
                    await self.resync(client)
                # short-term txs skip sequence checks, any value signs correctly
                sequence = self._sequence if self._sequence is not None else 0
                tx = self._sign(client, msg, sequence)
                response, resent = await self._broadcast_same_bytes(client, tx, stateful)
                if self._accepted(response, sequence, stateful, resent):
                    break
                height = await self._prepare_retry(client, response, stateful, retries, height)
            if stateful:
                self._sequence = sequence + 1
            if placement:
                self.limiter.record(height)
            tx_hash = response.txhash or hashlib.sha256(tx.SerializeToString()).hexdigest().upper()
            return TxResult(tx_hash, sequence, int(response.code), response.codespace, resent)

    @staticmethod
    def _accepted(response: Any, sequence: int, stateful: bool, resent: bool) -> bool:
        found = (response.codespace, int(response.code))
        if found[1] == 0 or found == (codes.SDK, codes.SDK_TX_IN_MEMPOOL_CACHE):
            return True
        if not resent:
            return False
        if stateful and found == (codes.SDK, codes.SDK_WRONG_SEQUENCE):
            # our first copy consumed `sequence` before the transport failed
            return codes.parse_expected_sequence(response.raw_log) == sequence + 1
        return not stateful and found == (codes.CLOB, codes.CLOB_ORDER_REPROCESSED)

    async def _prepare_retry(
        self, client: DydxClient, response: Any, stateful: bool, retries: dict[str, int], height: int | None
    ) -> int | None:
        """Set up the one allowed retry after a recoverable refusal, or raise the mapped error."""
        space, code, log = response.codespace, int(response.code), response.raw_log
        if stateful and (space, code) == (codes.SDK, codes.SDK_WRONG_SEQUENCE):
            if retries["sequence"]:
                retries["sequence"] -= 1
                expected = codes.parse_expected_sequence(log)
                if expected is None:
                    await self.resync(client)
                else:
                    self._sequence = expected
                return height
            self._sequence = None  # resync before the next stateful tx
        elif (space, code) == (codes.CLOB, codes.CLOB_BLOCK_RATE_LIMIT) and retries["rate"]:
            retries["rate"] -= 1
            return await self.limiter.wait_next_block(client.latest_height, height or 0)
        raise codes.error_for_code(space, code, log)

    async def _broadcast_same_bytes(self, client: DydxClient, tx: Tx, stateful: bool) -> tuple[Any, bool]:
        for attempt in range(self.resends + 1):
            try:
                return await client.broadcast(tx), attempt > 0
            except VenueTemporaryError:
                if attempt == self.resends:
                    if stateful:
                        self._sequence = None  # unknown whether it landed: resync next time
                    raise
                await asyncio.sleep(self.resend_backoff * (attempt + 1))
        raise AssertionError("unreachable")


__all__ = ["InvalidCredential", "Signer", "TxResult"]
