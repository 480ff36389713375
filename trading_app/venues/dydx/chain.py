"""The chain's timing rules DydxVenue decides order outcomes from (pure, no I/O).

Each number comes from dydxprotocol/v4-chain:
- ShortBlockWindow (protocol/x/clob/types/constants.go) bounds a short-term order's good-til-block:
  CheckTx accepts `next height <= GTB <= next height + ShortBlockWindow`
  (x/clob/keeper/orders.go validateGoodTilBlock). It was 20 up to protocol v9.4 and is 40 from v9.5.
  A venue that assumes the larger window only waits longer; one that assumes the smaller could
  declare an order finished while a copy of it may still fill, so 40 is the default.
- A short-term order cannot fill in a block above its good-til-block (same function), and its fill
  amount stays in state until GTB + ShortBlockWindow (x/clob/keeper/process_single_match.go
  setOrderFillAmountsAndPruning): within that window the chain refuses to fill the id again.
- A mempool tx not included within TTLNumBlocks = 40 blocks is dropped
  (protocol/cmd/dydxprotocold/cmd/config.go `cfg.Mempool.TTLNumBlocks = 40`).
"""

from __future__ import annotations

from trading_app.domain.enums import Network

SHORT_BLOCK_WINDOW = 40
SMALLEST_SHORT_BLOCK_WINDOW = 20  # up to protocol v9.4
SHORT_BLOCK_WINDOWS = {Network.TESTNET: SHORT_BLOCK_WINDOW, Network.MAINNET: SHORT_BLOCK_WINDOW}
MEMPOOL_TTL_BLOCKS = 40
# CometBFT purges after committing a block, so a tx checked at height h can still be in block
# h + TTL + 1; one more block covers a peer that received it by gossip a block later
COMMIT_MARGIN_BLOCKS = 2
# Before re-sending a short-term id we ask the indexer whether it ever filled. A fill it has not
# indexed yet is still in chain state (the chain refuses the id again) only if the indexer is less
# than ShortBlockWindow behind; half the smallest window leaves room for the blocks of the round trip.
MAX_INDEXER_LAG_TO_SEND = SMALLEST_SHORT_BLOCK_WINDOW // 2


def good_til_block_bound(latest_height: int, short_block_window: int) -> int:
    """The highest good-til-block any order sent before now can have.

    CheckTx checks a short-term order against the next block (`latest + 1`) and accepts a GTB up to
    `next + ShortBlockWindow`; an order sent earlier saw a lower latest height.

    Args:
        latest_height: The node's latest block height, read now.
        short_block_window: The chain's ShortBlockWindow (a larger value is safe).
    """
    return latest_height + 1 + short_block_window


def commit_deadline(height_after_broadcast: int, ttl_blocks: int = MEMPOOL_TTL_BLOCKS) -> int:
    """The last block a stateful tx accepted at CheckTx by `height_after_broadcast` can be in.

    Args:
        height_after_broadcast: The node's latest height read after the broadcast returned.
        ttl_blocks: The nodes' mempool TTL in blocks.
    """
    return height_after_broadcast + ttl_blocks + COMMIT_MARGIN_BLOCKS


def short_term_finished(indexer_height: int, good_til_block: int) -> bool:
    """True once the indexer has processed the last block the order could fill in (its GTB)."""
    return indexer_height >= good_til_block
