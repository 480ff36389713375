"""What the login page says for each outcome of the wallet flow."""

from __future__ import annotations

import pytest

from trading_app.pages.login import _MESSAGES, _SERVER_TROUBLE, chain_name, explain
from trading_app.services.auth.siwe import AuthErrorCode

# refusals the API can answer at login, and the wallet script's own codes
SHOWN_AS_THEMSELVES = [
    c.value
    for c in AuthErrorCode
    if c.value not in ("unsupported_chain", "chain_mismatch", "not_authenticated")
]
SCRIPT_CODES = ["no_wallet", "no_account", "rejected", "page_incomplete"]


@pytest.mark.parametrize("code", SHOWN_AS_THEMSELVES + SCRIPT_CODES)
def test_every_known_code_has_its_own_sentence(code: str) -> None:
    assert code in _MESSAGES
    assert explain({"error": code}, 1) == _MESSAGES[code] != _SERVER_TROUBLE


@pytest.mark.parametrize("code", ["wrong_chain", "unsupported_chain", "chain_mismatch"])
def test_chain_problems_name_the_chain_to_switch_to(code: str) -> None:
    assert explain({"error": code, "chain": 137}, 1) == (
        "Your wallet is on Polygon (chain id 137). "
        "Switch your wallet to Ethereum mainnet (chain id 1), then try again."
    )
    assert (
        explain({"error": code}, 11155111)
        == "Switch your wallet to Sepolia (chain id 11155111), then try again."
    )


def test_unknown_and_server_errors_are_generic() -> None:
    for result in (
        {"error": "server_error", "status": 500},
        {"error": "network_error"},
        {"error": "???"},
        {},
    ):
        assert explain(result, 1) == _SERVER_TROUBLE


def test_wallet_errors_quote_the_wallet_briefly() -> None:
    assert explain({"error": "wallet_error", "detail": "Already processing"}, 1).endswith(
        "Already processing"
    )
    assert len(explain({"error": "wallet_error", "detail": "x" * 5000}, 1)) < 300


def test_chain_name() -> None:
    assert chain_name(1) == "Ethereum mainnet (chain id 1)"
    assert chain_name(999) == "chain id 999"
