"""Map the tickers traders paste from TradingView onto dYdX perpetual tickers (BASE-USD).

dYdX v4 lists only USD-quoted perpetuals, so every USD-like quote (USD, USDT, USDC, BUSD)
maps to `-USD`. Whether the resulting market exists is decided later against the venue's
own market list; this module only normalizes the spelling.
"""

from __future__ import annotations

import functools
import re

# Longest first, so "BTCUSDT" loses "USDT" and not just "USD"
_QUOTES = ("USDT", "USDC", "BUSD", "USD")
# Perpetual markers: TradingView ".P", Bybit/OKX style ".PERP" / "-PERP", FTX style "PERP"
_PERP_SUFFIXES = (".PERP", "-PERP", "_PERP", ".P", "PERP")
_SEPARATORS = re.compile(r"[-/_]")
_BASE = re.compile(r"[A-Z0-9]{1,20}")
_ALIASES = {"XBT": "BTC"}  # BitMEX's name for bitcoin


_MAX_KNOWN, _MAX_KNOWN_LENGTH = 4096, 64  # alerts repeat a few short names: each is worked out once


def normalize_market(raw: str) -> str | None:
    """Return the dYdX ticker for a market name, or None when it is not a USD perpetual name.

    Examples:
        BTC-USD, btc-usd, BTCUSDT.P, BINANCE:BTCUSDT.P, BTCUSDT.PERP, BTCUSD, XBTUSD,
        BTC/USDT, BTC-PERP -> BTC-USD; ETHUSD.P, ETHUSDT -> ETH-USD; ETHBTC -> None.
    """
    # a long name is never remembered: the cache stays small whatever the alerts carry
    return _known(raw) if len(raw) <= _MAX_KNOWN_LENGTH else _normalize(raw)


@functools.lru_cache(maxsize=_MAX_KNOWN)
def _known(raw: str) -> str | None:
    return _normalize(raw)


def _normalize(raw: str) -> str | None:
    text = raw.strip().upper()
    if ":" in text:
        text = text.rsplit(":", 1)[1]  # drop the exchange prefix ("BINANCE:")
    perp = False
    for suffix in _PERP_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text, perp = text[: -len(suffix)], True
            break
    parts = _SEPARATORS.split(text)
    if len(parts) == 2:
        base, quote = parts
        if quote not in _QUOTES:
            return None
    elif len(parts) == 1:
        quote = next((q for q in _QUOTES if text.endswith(q) and len(text) > len(q)), "")
        if not quote and not perp:
            return None  # a bare "BTC" is only accepted as "BTC-PERP" / "BTCPERP"
        base = text[: len(text) - len(quote)]
    else:
        return None
    base = _ALIASES.get(base, base)
    return f"{base}-USD" if _BASE.fullmatch(base) else None
