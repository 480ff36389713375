"""Sign-In with Ethereum (EIP-4361) messages: build, parse, and recover the signer.

The server is the only author of sign-in messages (see `services.auth.login`): it stores the exact
text it issued, so parsing here only has to read back fields of text we wrote, and anything
that does not match our own layout is refused.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct

STATEMENT = "Sign in to dYdX Alert Trader. This request costs no gas and sends no transaction."
_ALNUM = string.ascii_letters + string.digits


class AuthErrorCode(StrEnum):
    """Why a sign-in or a session was refused. The value is what the API answers."""

    INVALID_REQUEST = "invalid_request"
    INVALID_ADDRESS = "invalid_address"
    UNSUPPORTED_CHAIN = "unsupported_chain"
    UNKNOWN_NONCE = "unknown_nonce"  # never issued, already used (replay), or purged
    MESSAGE_MISMATCH = "message_mismatch"  # the nonce is ours but the text is not what we issued
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    DOMAIN_MISMATCH = "domain_mismatch"
    URI_MISMATCH = "uri_mismatch"
    CHAIN_MISMATCH = "chain_mismatch"
    BAD_SIGNATURE = "bad_signature"
    SIGNER_MISMATCH = "signer_mismatch"
    RATE_LIMITED = "rate_limited"
    NOT_AUTHENTICATED = "not_authenticated"


class AuthError(Exception):
    """A refused sign-in step; `code` is safe to show and to return to the client."""

    def __init__(self, code: AuthErrorCode) -> None:
        super().__init__(code.value)
        self.code = code


def new_nonce(length: int = 17) -> str:
    """A random alphanumeric nonce (EIP-4361 needs >= 8 characters; 17 is ~101 bits)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def iso(moment: datetime) -> str:
    """RFC 3339 UTC time with milliseconds, as EIP-4361 prints it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Read an RFC 3339 time written by `iso`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def origin_of(public_url: str) -> tuple[str, str]:
    """The (domain, uri) a message must name, from the public URL the browser shows."""
    parts = urlsplit(public_url)
    if not parts.scheme or not parts.netloc:
        raise ValueError("PUBLIC_URL must be an absolute URL such as https://trade.example.com")
    return parts.netloc, public_url.rstrip("/")


@dataclass(frozen=True)
class SiweMessage:
    """The fields of one EIP-4361 message as this server writes it."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    expiration_time: str
    statement: str = STATEMENT
    version: str = "1"

    def text(self) -> str:
        """The exact text to sign. Note the blank line after the address and after the statement."""
        return "\n".join(
            [
                f"{self.domain} wants you to sign in with your Ethereum account:",
                self.address,
                "",
                self.statement,
                "",
                f"URI: {self.uri}",
                f"Version: {self.version}",
                f"Chain ID: {self.chain_id}",
                f"Nonce: {self.nonce}",
                f"Issued At: {self.issued_at}",
                f"Expiration Time: {self.expiration_time}",
            ]
        )


_MESSAGE = re.compile(
    r"\A(?P<domain>[^\s/?#]+) wants you to sign in with your Ethereum account:\n"
    r"(?P<address>0x[0-9a-fA-F]{40})\n\n"
    r"(?P<statement>[^\n]+)\n\n"
    r"URI: (?P<uri>[^\n]+)\n"
    r"Version: (?P<version>1)\n"
    r"Chain ID: (?P<chain_id>[0-9]{1,18})\n"
    r"Nonce: (?P<nonce>[a-zA-Z0-9]{8,64})\n"
    r"Issued At: (?P<issued_at>[^\n]+)\n"
    r"Expiration Time: (?P<expiration_time>[^\n]+)\Z"
)


def parse(text: str) -> SiweMessage:
    """Read a message back into its fields.

    Raises:
        AuthError: INVALID_REQUEST when the text is not in our layout.
    """
    match = _MESSAGE.match(text)
    if match is None:
        raise AuthError(AuthErrorCode.INVALID_REQUEST)
    fields: dict[str, Any] = match.groupdict()
    try:
        parse_time(fields["issued_at"])
        parse_time(fields["expiration_time"])
    except ValueError:
        raise AuthError(AuthErrorCode.INVALID_REQUEST) from None
    return SiweMessage(**{**fields, "chain_id": int(fields["chain_id"])})


_SIGNATURE = re.compile(r"\A0x[0-9a-fA-F]{130}\Z")
# secp256k1's group order: (r, s) and (r, n - s) both verify, so only the low-s one is accepted
# (EIP-2): one signed message has exactly one valid signature, as wallets produce it
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def recover_signer(text: str, signature: str) -> str:
    """Recover the checksum address that signed `text` with EIP-191 `personal_sign`.

    Accepts v in {0, 1, 27, 28}: some hardware wallets return 0/1. Refuses high-s signatures
    (s > n/2): the malleable twin of a valid signature is not a second way to sign in.

    Raises:
        AuthError: BAD_SIGNATURE when the signature is malformed, high-s or recovers nothing.
    """
    if not isinstance(signature, str) or not _SIGNATURE.match(signature):
        raise AuthError(AuthErrorCode.BAD_SIGNATURE)
    raw = bytearray.fromhex(signature[2:])
    if raw[64] in (0, 1):
        raw[64] += 27
    if raw[64] not in (27, 28):
        raise AuthError(AuthErrorCode.BAD_SIGNATURE)
    if not 0 < int.from_bytes(raw[32:64], "big") <= SECP256K1_N // 2:
        raise AuthError(AuthErrorCode.BAD_SIGNATURE)
    try:
        return Account.recover_message(encode_defunct(text=text), signature=bytes(raw))
    except Exception:  # noqa: BLE001 - eth-keys raises several types for invalid points
        raise AuthError(AuthErrorCode.BAD_SIGNATURE) from None
