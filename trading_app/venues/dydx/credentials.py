"""Format checks for dYdX credentials (settings page) and address derivation.

Messages never echo the secret (not even one word of a mnemonic): they say what is
wrong with its shape only.
"""

from __future__ import annotations

import base64
import json
import re

import bech32
from bip_utils import Bip39MnemonicValidator
from coincurve.utils import GROUP_ORDER_INT
from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.wallet import Wallet

MNEMONIC_WORDS = 24
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
MAX_AUTHENTICATOR_ID = 2**64 - 1


class InvalidCredential(ValueError):
    """A credential has the wrong format; the message is safe to show (no secret in it)."""


def normalize_mnemonic(mnemonic: str) -> str:
    """Return the mnemonic as 24 lower-case words separated by single spaces.

    Raises:
        InvalidCredential: not 24 BIP39 English words or the checksum is wrong.
    """
    if not isinstance(mnemonic, str):
        raise InvalidCredential("the secret phrase must be text")
    words = mnemonic.strip().lower().split()
    if len(words) != MNEMONIC_WORDS:
        raise InvalidCredential(f"the secret phrase must have {MNEMONIC_WORDS} words, it has {len(words)}")
    phrase = " ".join(words)
    try:
        valid = Bip39MnemonicValidator().IsValid(phrase)
    except Exception:  # noqa: BLE001 - bip_utils raises varied types; never echo its text
        valid = False
    if not valid:
        raise InvalidCredential(
            "the secret phrase is not a valid BIP39 phrase (unknown word or bad checksum)"
        )
    return phrase


def derive_dydx_address(mnemonic: str) -> str:
    """Derive the dydx1 address of a dYdX secret phrase (Cosmos path m/44'/118'/0'/0/0).

    Args:
        mnemonic: The 24-word phrase from dYdX's "Export secret phrase".

    Returns:
        The bech32 `dydx1...` address; use it instead of any address a user types.

    Raises:
        InvalidCredential: the phrase is malformed.
    """
    return Wallet(KeyPair.from_mnemonic(normalize_mnemonic(mnemonic)), 0, 0).address


def normalize_private_key(private_key_hex: str) -> str:
    """Return a secp256k1 private key as 64 lower-case hex characters (no 0x).

    Raises:
        InvalidCredential: not 64 hex characters, or not a valid secp256k1 key.
    """
    if not isinstance(private_key_hex, str):
        raise InvalidCredential("the API private key must be text")
    value = private_key_hex.strip()
    if value[:2].lower() == "0x":
        value = value[2:]
    if not _HEX64.fullmatch(value):
        raise InvalidCredential("the API private key must be 64 hexadecimal characters")
    if not 0 < int(value, 16) < GROUP_ORDER_INT:
        raise InvalidCredential("the API private key is not a valid secp256k1 key")
    return value.lower()


def key_address(private_key_hex: str) -> str:
    """The dydx1 address of a raw private key (the API key's own address)."""
    return Wallet(KeyPair.from_hex(normalize_private_key(private_key_hex)), 0, 0).address


def normalize_dydx_address(address: str) -> str:
    """Return a valid `dydx1...` bech32 account address.

    Raises:
        InvalidCredential: wrong prefix, checksum or length.
    """
    if not isinstance(address, str):
        raise InvalidCredential("the dYdX address must be text")
    value = address.strip()
    if value == value.upper():
        value = value.lower()  # all-caps bech32 is valid; mixed case is not
    hrp, data = bech32.bech32_decode(value)
    if hrp != "dydx" or data is None:
        raise InvalidCredential("the dYdX address must be a dydx1... address with a valid checksum")
    raw = bech32.convertbits(data, 5, 8, False)
    if raw is None or len(raw) != 20:
        raise InvalidCredential("the dYdX address has the wrong length for an account address")
    return value


def normalize_authenticator_id(value: int | str) -> int:
    """Return an authenticator id as an int (uint64).

    Raises:
        InvalidCredential: not a non-negative whole number.
    """
    if isinstance(value, bool):
        raise InvalidCredential("the authenticator id must be a whole number")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise InvalidCredential("the authenticator id must be a whole number")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_AUTHENTICATOR_ID:
        raise InvalidCredential("the authenticator id must be a whole number >= 0")
    return value


TRADING_MESSAGES = frozenset(
    {
        "/dydxprotocol.clob.MsgPlaceOrder",
        "/dydxprotocol.clob.MsgCancelOrder",
        "/dydxprotocol.clob.MsgBatchCancel",
    }
)


def authenticator_summary(kind: str, config: bytes) -> tuple[set[bytes], set[str] | None]:
    """Public keys and message types an on-chain authenticator names.

    Args:
        kind: `AccountAuthenticator.type` ("AllOf", "AnyOf", "SignatureVerification", ...).
        config: `AccountAuthenticator.config`; composites hold a JSON list of
            `{"type", "config": base64}` entries.

    Returns:
        (public keys, allowed message types); the message set is None when no MessageFilter
        restricts the authenticator (it then authorizes every message, withdrawals included).
    """
    if kind == "SignatureVerification":
        return {bytes(config)}, None
    if kind == "MessageFilter":
        return set(), {m for m in bytes(config).decode().split(",") if m}
    if kind not in ("AllOf", "AnyOf"):
        return set(), None
    keys: set[bytes] = set()
    messages: set[str] | None = None
    for entry in json.loads(bytes(config).decode() or "[]"):
        sub_keys, sub_messages = authenticator_summary(entry["type"], base64.b64decode(entry["config"]))
        keys |= sub_keys
        if sub_messages is not None:
            messages = sub_messages if messages is None else (
                messages & sub_messages if kind == "AllOf" else messages | sub_messages)
    return keys, messages


def check_trading_authenticator(kind: str, config: bytes, public_key: bytes) -> None:
    """Refuse an authenticator that does not name `public_key` or allows more than trading.

    Raises:
        InvalidCredential: the key is not the authenticator's, or the authenticator would also
            allow other messages (a leaked key could then withdraw).
    """
    keys, messages = authenticator_summary(kind, config)
    if public_key not in keys:
        raise InvalidCredential("this authenticator does not belong to the given API key")
    if messages is None or not messages <= TRADING_MESSAGES:
        raise InvalidCredential("this authenticator allows more than placing and cancelling orders; "
                                "authorize a trading-only key (dydx.trade API Trading Keys)")
