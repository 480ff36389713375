"""Format checks for dYdX credentials (settings page), address derivation, and the check that
an API key's on-chain authenticator allows trading one subaccount and nothing more.

Messages never echo the secret (not even one word of a mnemonic): they say what is
wrong with its shape only.
"""

from __future__ import annotations

import re

import bech32
from bip_utils import Bip39MnemonicValidator
from coincurve.utils import GROUP_ORDER_INT
from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.wallet import Wallet

from trading_app.domain.numbers import ascii_int
from trading_app.venues.dydx.authenticators import (
    MalformedAuthenticator,
    trading_key_problems,
)

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
    address: str = Wallet(KeyPair.from_mnemonic(normalize_mnemonic(mnemonic)), 0, 0).address
    return address


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
    address: str = Wallet(KeyPair.from_hex(normalize_private_key(private_key_hex)), 0, 0).address
    return address


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
        parsed = ascii_int(value.strip(), 0, None)
        if parsed is None:
            raise InvalidCredential("the authenticator id must be a whole number")
        value = parsed
    if not isinstance(value, int) or not 0 <= value <= MAX_AUTHENTICATOR_ID:
        raise InvalidCredential("the authenticator id must be a whole number >= 0")
    return value


def public_key_of(private_key_hex: str) -> bytes:
    """The 33-byte compressed public key of a raw private key (what SignatureVerification names).

    Raises:
        InvalidCredential: the private key is malformed.
    """
    key: bytes = KeyPair.from_hex(normalize_private_key(private_key_hex)).public_key_bytes
    return key


def check_trading_authenticator(
    kind: str, config: bytes, public_key: bytes, subaccount: int = 0, *, authenticator_id: int | None = None
) -> None:
    """Refuse an authenticator unless it lets `public_key` trade `subaccount` and nothing more.

    The tree is evaluated as the chain does (see `authenticators`): every way it can succeed must
    need this key's signature, allow only MsgPlaceOrder/MsgCancelOrder/MsgBatchCancel and only for
    `subaccount` (a branch without SubaccountFilter allows every subaccount: refused), and it must
    let this key place and cancel orders. dydx.trade's API Trading Keys pass for subaccount 0.

    Args:
        kind: `AccountAuthenticator.type` from the node.
        config: `AccountAuthenticator.config` from the node.
        public_key: The API key's compressed public key.
        subaccount: The subaccount number the account trades (dydx.trade accounts use 0).
        authenticator_id: The authenticator's id, to name its parts as the chain does.

    Raises:
        InvalidCredential: why the key is refused (which branch allows what); no key material.
    """
    path = "root" if authenticator_id is None else str(authenticator_id)
    name = "this authenticator" if authenticator_id is None else f"authenticator {authenticator_id}"
    try:
        problems = trading_key_problems(kind, bytes(config), bytes(public_key), subaccount, path)
    except MalformedAuthenticator as e:
        raise InvalidCredential(f"{name} is refused: {e}, so it cannot authorize any order") from None
    if problems:
        shown = "; ".join(problems[:2]) + (f"; and {len(problems) - 2} more" if len(problems) > 2 else "")
        where = " (dydx.trade: More > API Trading Keys)" if subaccount == 0 else ""  # its keys are for 0
        raise InvalidCredential(
            f"{name} is refused: {shown}. Authorize a key that can only place and cancel orders "
            f"for subaccount {subaccount}{where}"
        )
