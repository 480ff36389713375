"""The live feed's shared-state token of a trader: unguessable, derived on the server only.

Reflex delivers a shared state's changes to the websocket whose client token equals the shared
token, and lets any browser name its own client token. A token computable from the (public)
wallet address would let anyone listen to a trader's feed, or re-link it to their own. So the
token is an HMAC of the address under a key derived from the master key (HKDF, a label of its
own, so it opens nothing else), and it never leaves the server: it lives only in backend vars.

A new primary master key gives every trader a new feed token; open tabs join it on their next
page load (until then they catch up through the page's periodic refresh).
"""

from __future__ import annotations

import hmac
import re
from functools import lru_cache
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trading_app.settings import get_settings

FEED_PREFIX = "feed-"
_LABEL = b"trading_app/live-feed-token/v1"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@lru_cache(maxsize=4)
def _feed_key(master: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(master)


def feed_token(address: str) -> str:
    """The shared-state token of one trader's live feed: `feed-<64 hex>`.

    Lowercasing first makes the checksum and lowercase spellings of one wallet one feed; the
    token has no "_" (Reflex forbids it in shared tokens) and is not UUID-shaped, so no browser
    socket may claim it (`api.socket_session` refuses such client tokens).

    Raises:
        ValueError: `address` is not a 0x-prefixed 20-byte hex address.
        SettingsError: no master key is configured.
    """
    if not _ADDRESS.fullmatch(address):
        raise ValueError("not a wallet address")
    settings = get_settings()
    master = settings.master_keys()[settings.primary_key_id()]
    digest = hmac.new(_feed_key(master), address.lower().encode(), sha256).hexdigest()
    return FEED_PREFIX + digest
