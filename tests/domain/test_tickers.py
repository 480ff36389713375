"""TradingView and exchange tickers map onto dYdX BASE-USD tickers."""

from __future__ import annotations

import pytest

from trading_app.domain.tickers import normalize_market


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BTC-USD", "BTC-USD"),
        ("btc-usd", "BTC-USD"),
        ("  ETH-USD \n", "ETH-USD"),
        ("BTCUSDT.P", "BTC-USD"),
        ("BINANCE:BTCUSDT.P", "BTC-USD"),
        ("BYBIT:ETHUSDT.P", "ETH-USD"),
        ("BTCUSDT.PERP", "BTC-USD"),
        ("BTCUSD", "BTC-USD"),
        ("ETHUSDT", "ETH-USD"),
        ("ETHUSD.P", "ETH-USD"),
        ("SOLUSDC", "SOL-USD"),
        ("BTC/USDT", "BTC-USD"),
        ("BTC_USDT", "BTC-USD"),
        ("BTC-PERP", "BTC-USD"),
        ("BTCPERP", "BTC-USD"),
        ("BTC-USD-PERP", "BTC-USD"),
        ("XBTUSD", "BTC-USD"),
        ("BITMEX:XBTUSD", "BTC-USD"),
        ("1INCHUSDT.P", "1INCH-USD"),
        ("DOGEBUSD", "DOGE-USD"),
        ("USDCUSDT", "USDC-USD"),
    ],
)
def test_known_spellings_map_to_the_dydx_ticker(raw: str, expected: str) -> None:
    assert normalize_market(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "BTC",  # no quote and no perpetual marker
        "USD",
        "USDT",
        "ETHBTC",
        "BTC-EUR",
        "BTC-USD-X",
        "BTC USD",
        "BTC\n-USD",
        "BINANCE:",
        ".P",
        "PERP",
        "ÄBC-USD",
        "A" * 21 + "-USD",
        "BTC-USD; DROP TABLE",
    ],
)
def test_anything_else_is_refused(raw: str) -> None:
    assert normalize_market(raw) is None
