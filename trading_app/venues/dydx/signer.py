"""Sign and broadcast dYdX transactions for one owner account, one at a time.

Sequence handling (dydx-v4.md §2): the node's Account query returns *committed*
state, so re-reading it before each tx (what 1.1.5's SequenceManager does) makes a
second stateful tx in the same block fail with sdk 32. We keep a local sequence,
seeded from the chain, advanced only after code 0 for stateful txs, and resynced
from the "expected N" of a mismatch (then signed again with the same message).

Idempotency comes from the order id, not from the tx bytes. A node keeps every tx it checked in
its cache, refused ones too (dydxprotocold cmd/config.go KeepInvalidTxsInCache), so resending the
same bytes after a lost answer only earns "tx already exists in cache" (sdk 19), which says the
node saw them, not that they were valid. So every attempt after a transport failure or a refusal
is signed again (its own memo) with the same message, and the chain's rules for the order id make
all copies one order: a stateful id already in committed or uncommitted state is refused (clob
3005), a short-term id with a live or filled copy too (20, 24, 2004); the venue reads those as the
same order. A sequence mismatch (sdk 32) says the sequence is used, not by whom (the trader's own
dYdX front end may have used it), so it is never read as "our copy landed": the tx is signed again
with the expected sequence. A cache hit that still remains (identical bytes sent by an earlier
call) is probed once with fresh bytes for a stateful tx; for a short-term order it is returned in
doubt (`TxResult.in_doubt`), the order's fills decide it. After a failure or doubt the local
sequence is dropped and read again before the next stateful tx.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.node.builder import DEFAULT_FEE, get_signature, get_signer_info
from dydx_v4_client.wallet import Wallet
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, Tx

from trading_app.venues.dydx import encoding
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
from trading_app.venues.errors import VenueError, VenueTemporaryError

# refused before the rate limit counts the attempt: the cache, the sequence, the signature
_NOT_COUNTED = frozenset({(codes.SDK, codes.SDK_TX_IN_MEMPOOL_CACHE), (codes.SDK, codes.SDK_WRONG_SEQUENCE),
                          (codes.SDK, codes.SDK_UNAUTHORIZED)})


@dataclass(frozen=True)
class TxResult:
    """A broadcast the node did not refuse.

    `in_doubt`: the node had already seen these exact bytes (sdk 19), so this answer does not say
    whether they were accepted. `height`: the node's latest height read after the broadcast (None
    if it could not be read), from which a stateful tx's mempool deadline is counted.
    """

    tx_hash: str
    sequence: int
    code: int = 0
    codespace: str = ""
    resent: bool = False
    in_doubt: bool = False
    height: int | None = None


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
        key: bytes = self._wallet.key.public_key_bytes  # dydx_v4_client ships no types
        return key

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

    def _sign(self, client: DydxClient, msg: Any, sequence: int, attempt: int = 0) -> Tx:
        # a node keeps every checked tx in its cache, invalid ones too (dydxprotocold cmd/config.go
        # KeepInvalidTxsInCache), so a retry after a refusal must not be the same bytes: it would only
        # meet "tx already exists in cache". A retry with an unchanged sequence gets its own memo.
        # The body is the one v4-client-js signs (encoding.tx_body: the TxExtension is always there,
        # empty for the owner's own key), so our bytes equal the official client's for the same
        # inputs (tests/fixtures/dydx golden vectors).
        builder = client.node.builder
        memo = f"retry {attempt}" if attempt else builder.memo
        authenticators = [] if self.authenticator_id is None else [self.authenticator_id]
        body = encoding.tx_body(msg, memo, authenticators)
        signer_info = get_signer_info(self._wallet.public_key, sequence)
        auth_info = AuthInfo(signer_infos=[signer_info], fee=DEFAULT_FEE)
        signature = get_signature(self._wallet.key, body, auth_info, self._account_number, builder.chain_id)
        return Tx(body=body, auth_info=auth_info, signatures=[signature])

    async def submit(
        self, client: DydxClient, msg: Any, *, stateful: bool, placement: bool = False
    ) -> TxResult:
        """Sign `msg` and broadcast it until the node accepts it, or refuses it for good.

        Args:
            client: The network's node client.
            msg: One clob message (MsgPlaceOrder, MsgCancelOrder, MsgBatchCancel).
            stateful: Long-term/conditional order or cancel: consumes a sequence.
            placement: A stateful placement: counted by the block rate limiter.

        Returns:
            The tx's hash and sequence; `in_doubt` when only the cache answered (see module doc).

        Raises:
            VenueError: mapped from the final refusal or transport failure (after a transport
                failure the tx may or may not have reached the node).
        """
        async with self._lock:
            height = await self.limiter.wait_turn(client.latest_height) if placement else None
            retries = {"sequence": 2, "rate": 2 if placement else 0, "cache": 1 if stateful else 0}
            attempt, in_doubt = 0, False
            counted = height if placement else None
            while True:
                if self._account_number is None or (stateful and self._sequence is None):
                    await self.resync(client)
                # short-term txs skip sequence checks, any value signs correctly
                sequence = self._sequence if self._sequence is not None else 0
                response, tx, attempt = await self._send(client, msg, sequence, attempt, stateful, counted)
                found = (response.codespace, int(response.code))
                if found[1] == 0:
                    break
                if found == (codes.SDK, codes.SDK_TX_IN_MEMPOOL_CACHE):
                    if not retries["cache"]:
                        in_doubt = True
                        break
                    retries["cache"] -= 1
                else:
                    height = await self._prepare_retry(client, response, stateful, retries, height)
                    counted = height if placement else None
                attempt += 1
            if stateful:
                self._sequence = None if in_doubt else sequence + 1
            after = await _height_after(client) if stateful else None
            tx_hash = response.txhash or hashlib.sha256(tx.SerializeToString()).hexdigest().upper()
            return TxResult(tx_hash, sequence, int(response.code), response.codespace, attempt > 0, in_doubt,
                            after)

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
        raise codes.refusal(space, code, log)

    async def _send(
        self, client: DydxClient, msg: Any, sequence: int, attempt: int, stateful: bool, counted: int | None
    ) -> tuple[Any, Tx, int]:
        """Broadcast `msg`, signing it again after each transport failure; (response, tx, attempt).

        `counted`: the height a stateful placement is counted at by the block rate limit. The chain
        counts every attempt that gets past the sequence and signature checks, refused or not
        (x/clob/rate_limit/multi_block_rate_limiter.go, run before the clob checks in app/ante.go),
        so each such attempt, and each whose answer was lost, is recorded.
        """
        for resend in range(self.resends + 1):
            tx = self._sign(client, msg, sequence, attempt + resend)
            try:
                response = await client.broadcast(tx)
            except VenueTemporaryError:
                if counted is not None:
                    self.limiter.record(counted)
                if resend == self.resends:
                    if stateful:
                        self._sequence = None  # unknown whether it landed: resync next time
                    raise
                await asyncio.sleep(self.resend_backoff * (resend + 1))
                continue
            if counted is not None and (response.codespace, int(response.code)) not in _NOT_COUNTED \
                    and response.codespace != "accountplus":
                self.limiter.record(counted)
            return response, tx, attempt + resend
        raise AssertionError("unreachable")


async def _height_after(client: DydxClient) -> int | None:
    try:
        return await client.latest_height()
    except VenueError:
        return None  # the caller then bounds the deadline from its first status read


__all__ = ["InvalidCredential", "Signer", "TxResult"]
