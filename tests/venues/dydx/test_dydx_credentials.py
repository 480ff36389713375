"""Credential format checks and address derivation (settings page helpers)."""

from __future__ import annotations

import pytest

from trading_app.venues.dydx.credentials import (
    InvalidCredential,
    derive_dydx_address,
    key_address,
    normalize_authenticator_id,
    normalize_dydx_address,
    normalize_mnemonic,
    normalize_private_key,
)

MNEMONIC = (
    "mirror actor skill push coach wait confirm orchard lunch mobile athlete gossip awake "
    "miracle matter bus reopen team ladder lazy list timber render wait"
)
ADDRESS = "dydx14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art"


def test_derive_address_from_mnemonic():
    assert derive_dydx_address(MNEMONIC) == ADDRESS
    # extra whitespace and capitals are tolerated
    assert derive_dydx_address("  " + MNEMONIC.upper().replace(" ", "   ") + "\n") == ADDRESS


@pytest.mark.parametrize(
    "phrase",
    [
        "mirror actor skill",  # too few words
        MNEMONIC.replace("wait confirm", "confirm wait"),  # bad checksum
        MNEMONIC.replace("mirror", "mirrorr"),  # unknown word
        MNEMONIC + " wait",  # 25 words
    ],
)
def test_bad_mnemonics_are_refused_without_echoing_words(phrase):
    with pytest.raises(InvalidCredential) as info:
        normalize_mnemonic(phrase)
    for word in ("mirror", "actor", "timber", "mirrorr"):
        assert word not in str(info.value)


def test_private_key_formats():
    key = "ab" * 32
    assert normalize_private_key(key) == key
    assert normalize_private_key("0x" + key.upper()) == key
    assert key_address(key).startswith("dydx1")
    for bad in ("ab" * 31, "zz" * 32, "0" * 64, "f" * 64, 12):
        with pytest.raises(InvalidCredential) as info:
            normalize_private_key(bad)
        assert "ab" * 31 not in str(info.value)


def test_dydx_address_formats():
    assert normalize_dydx_address(" " + ADDRESS + " ") == ADDRESS
    assert normalize_dydx_address(ADDRESS.upper()) == ADDRESS
    for bad in (
        ADDRESS[:-1] + "x",  # checksum
        "cosmos14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art",
        "dydx1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqhwqhk",  # wrong length/checksum
        ADDRESS[:10] + ADDRESS[10:].upper(),  # mixed case
        "",
        None,
    ):
        with pytest.raises(InvalidCredential):
            normalize_dydx_address(bad)


def test_authenticator_id():
    assert normalize_authenticator_id(3) == 3
    assert normalize_authenticator_id(" 12 ") == 12
    # "\u00b2" passes str.isdigit() and then fails int(); "\u0663" and "\uff11\uff12" pass both
    for bad in (-1, "x", "1.5", True, 2**64, None, "\u00b2", "\u0663", "\uff11\uff12", "1_0", "+1"):
        with pytest.raises(InvalidCredential):
            normalize_authenticator_id(bad)
