"""Field encryption of user secrets: AES-256-GCM, a key per purpose, bound to row and column.

Stored format (base64url, no padding):
    0x01 (format v1) || key_id (1 byte) || nonce (12) || ciphertext || tag (16)

The data key for a column is HKDF-SHA256(master[key_id], info="field-enc/v1|<table>.<column>").
The associated data binds the ciphertext to (table, column, owner), so a value copied to
another user's row or to another column fails to decrypt. Old master keys keep decrypting
after a new primary is added; `rotate_all` re-encrypts every row under the primary.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_V1 = 1
_NONCE_LEN = 12
_MIN_LEN = 2 + _NONCE_LEN + 16


class DecryptionError(Exception):
    """A ciphertext could not be opened: wrong row, wrong column, tampered, or key missing."""


@dataclass(frozen=True)
class FieldContext:
    """Where a ciphertext lives: it only decrypts there."""

    table: str
    column: str
    owner: str

    def aad(self, key_id: int) -> bytes:
        # length-prefixed so ("ab", "c") and ("a", "bc") can never collide
        parts = [b"v1", bytes([key_id]), self.table.encode(), self.column.encode(), self.owner.encode()]
        return b"".join(len(p).to_bytes(2, "big") + p for p in parts)

    @property
    def purpose(self) -> bytes:
        return f"{self.table}.{self.column}".encode()


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Keyring:
    """Versioned master keys; derives and caches one AES-GCM key per (key id, purpose)."""

    def __init__(self, master_keys: dict[int, bytes], primary: int) -> None:
        if primary not in master_keys:
            raise ValueError("the primary key id must be one of the master keys")
        if any(len(k) != 32 for k in master_keys.values()):
            raise ValueError("master keys are 32 bytes")
        self._masters = dict(master_keys)
        self.primary = primary
        self._cache: dict[tuple[int, bytes], AESGCM] = {}

    def _aead(self, key_id: int, purpose: bytes) -> AESGCM:
        cached = self._cache.get((key_id, purpose))
        if cached is None:
            data_key = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"field-enc/v1|" + purpose
            ).derive(self._masters[key_id])
            cached = self._cache[(key_id, purpose)] = AESGCM(data_key)
        return cached

    def encrypt(self, plaintext: str, ctx: FieldContext) -> str:
        """Encrypt under the primary key for exactly this table, column and owner."""
        key_id = self.primary
        nonce = os.urandom(_NONCE_LEN)
        sealed = self._aead(key_id, ctx.purpose).encrypt(nonce, plaintext.encode(), ctx.aad(key_id))
        return _b64e(bytes([FORMAT_V1, key_id]) + nonce + sealed)

    def decrypt(self, token: str, ctx: FieldContext) -> str:
        """Open a ciphertext. Raises DecryptionError without revealing anything about it."""
        try:
            raw = _b64d(token)
        except (ValueError, TypeError):
            raise DecryptionError("not a ciphertext") from None
        if len(raw) < _MIN_LEN or raw[0] != FORMAT_V1:
            raise DecryptionError("unknown ciphertext format")
        key_id, nonce, sealed = raw[1], raw[2 : 2 + _NONCE_LEN], raw[2 + _NONCE_LEN :]
        if key_id not in self._masters:
            raise DecryptionError(f"master key {key_id} is not loaded")
        try:
            return self._aead(key_id, ctx.purpose).decrypt(nonce, sealed, ctx.aad(key_id)).decode()
        except InvalidTag:
            raise DecryptionError("ciphertext does not belong here or was altered") from None

    def key_id_of(self, token: str) -> int:
        """The master key id a ciphertext was sealed with."""
        raw = _b64d(token)
        if len(raw) < _MIN_LEN or raw[0] != FORMAT_V1:
            raise DecryptionError("unknown ciphertext format")
        return raw[1]

    def needs_rotation(self, token: str) -> bool:
        return self.key_id_of(token) != self.primary

    def rotate(self, token: str, ctx: FieldContext) -> str:
        """Re-encrypt under the primary key (a no-op for values already under it)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, ctx), ctx)


_keyring: Keyring | None = None


def get_keyring() -> Keyring:
    """The process keyring built from settings (cached; `reset_keyring` after changing them)."""
    global _keyring
    if _keyring is None:
        from trading_app.settings import get_settings

        settings = get_settings()
        _keyring = Keyring(settings.master_keys(), settings.primary_key_id())
    return _keyring


def reset_keyring() -> None:
    """Forget the cached keyring (after a settings change)."""
    global _keyring
    _keyring = None
