"""EIP-4361 text layout, parsing, and signer recovery (with the fast secp256k1 backend)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys import KeyAPI

from trading_app.services.auth import siwe
from trading_app.services.auth.siwe import AuthError, AuthErrorCode

ACCOUNT = Account.from_key("0x" + "11" * 32)


def sign(text: str, account=ACCOUNT) -> str:
    return "0x" + Account.sign_message(encode_defunct(text=text), account.key).signature.hex()


def message(**overrides) -> siwe.SiweMessage:
    fields = dict(
        domain="localhost:3000",
        address=ACCOUNT.address,
        uri="http://localhost:3000",
        chain_id=1,
        nonce="abcDEF123456789xy",
        issued_at="2026-01-02T03:04:05.678Z",
        expiration_time="2026-01-02T03:09:05.678Z",
    )
    return siwe.SiweMessage(**{**fields, **overrides})


def test_text_follows_the_eip4361_layout_exactly() -> None:
    assert message().text() == (
        "localhost:3000 wants you to sign in with your Ethereum account:\n"
        f"{ACCOUNT.address}\n"
        "\n"
        f"{siwe.STATEMENT}\n"
        "\n"
        "URI: http://localhost:3000\n"
        "Version: 1\n"
        "Chain ID: 1\n"
        "Nonce: abcDEF123456789xy\n"
        "Issued At: 2026-01-02T03:04:05.678Z\n"
        "Expiration Time: 2026-01-02T03:09:05.678Z"
    )


def test_parse_reads_back_what_text_wrote() -> None:
    original = message(chain_id=11155111)
    assert siwe.parse(original.text()) == original


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        message().text() + "\n",  # trailing data
        message().text().replace("Version: 1", "Version: 2"),
        message().text().replace("Nonce: abcDEF123456789xy", "Nonce: short"),
        message().text().replace("2026-01-02T03:04:05.678Z", "yesterday"),
        message().text().replace("\n\nURI", "\nURI"),
    ],
)
def test_parse_refuses_anything_but_our_layout(text: str) -> None:
    with pytest.raises(AuthError) as e:
        siwe.parse(text)
    assert e.value.code is AuthErrorCode.INVALID_REQUEST


def test_nonces_are_long_random_alphanumerics() -> None:
    nonces = {siwe.new_nonce() for _ in range(200)}
    assert len(nonces) == 200
    assert all(len(n) == 17 and n.isalnum() for n in nonces)


def test_iso_is_utc_with_milliseconds() -> None:
    moment = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert siwe.iso(moment) == "2026-05-06T07:08:09.123Z"
    assert siwe.parse_time(siwe.iso(moment)) == moment.replace(microsecond=123000)


def test_origin_of_public_url() -> None:
    assert siwe.origin_of("https://trade.example.com/") == ("trade.example.com", "https://trade.example.com")
    assert siwe.origin_of("http://localhost:3000") == ("localhost:3000", "http://localhost:3000")
    with pytest.raises(ValueError):
        siwe.origin_of("trade.example.com")


@pytest.mark.parametrize("v_offset", [0, -27])
def test_recover_accepts_v_27_28_and_0_1(v_offset: int) -> None:
    text = message().text()
    signed = Account.sign_message(encode_defunct(text=text), ACCOUNT.key)
    raw = bytearray(signed.signature)
    raw[64] = signed.v + v_offset
    assert siwe.recover_signer(text, "0x" + raw.hex()) == ACCOUNT.address


def test_recover_of_a_tampered_text_gives_another_address() -> None:
    text = message().text()
    assert siwe.recover_signer(text.replace("Chain ID: 1", "Chain ID: 10"), sign(text)) != ACCOUNT.address


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "0x",
        "0x1234",
        "zz" * 65,
        "0x" + "gg" * 65,
        "0x" + "00" * 64 + "05",
        "0x" + "00" * 65,
        "0x" + "ab" * 66,
    ],
)
def test_malformed_signatures_are_bad_signature(signature: str) -> None:
    with pytest.raises(AuthError) as e:
        siwe.recover_signer(message().text(), signature)
    assert e.value.code is AuthErrorCode.BAD_SIGNATURE


def test_recovery_uses_coincurve_and_is_fast() -> None:
    # the pure-Python backend takes ~12 ms per recovery and blocks the event loop meanwhile
    assert type(KeyAPI().backend).__name__ == "CoinCurveECCBackend"
    text, signature = message().text(), sign(message().text())
    start = time.perf_counter()
    for _ in range(50):
        siwe.recover_signer(text, signature)
    assert (time.perf_counter() - start) / 50 < 0.005


def high_s_twin(signature: str) -> str:
    """The other valid signature of the same message: (r, n - s) with the recovery id flipped."""
    raw = bytearray.fromhex(signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    raw[32:64] = (siwe.SECP256K1_N - s).to_bytes(32, "big")
    raw[64] = 55 - raw[64]  # 27 <-> 28
    return "0x" + raw.hex()


def test_the_high_s_twin_of_a_valid_signature_is_refused() -> None:
    text = message().text()
    genuine = sign(text)
    twin = high_s_twin(genuine)
    # the twin is a valid signature by the same key (what made it a second way in) ...
    recovered = Account.recover_message(encode_defunct(text=text), signature=bytes.fromhex(twin[2:]))
    assert recovered == ACCOUNT.address
    # ... and it is refused, with v as 27/28 and as 0/1; the genuine low-s one still signs in
    for candidate in (twin, twin[:-2] + f"{int(twin[-2:], 16) - 27:02x}"):
        with pytest.raises(AuthError) as e:
            siwe.recover_signer(text, candidate)
        assert e.value.code is AuthErrorCode.BAD_SIGNATURE
    assert siwe.recover_signer(text, genuine) == ACCOUNT.address
