"""Field encryption: bound to owner and column, versioned, rotatable."""

from __future__ import annotations

import os

import pytest

from trading_app.services.security.crypto import DecryptionError, FieldContext, Keyring

K1, K2 = os.urandom(32), os.urandom(32)
ALICE = FieldContext("users", "telegram_token_enc", "0xAlice")


def test_round_trip_and_random_nonces() -> None:
    ring = Keyring({1: K1}, primary=1)
    a, b = ring.encrypt("123456:secret", ALICE), ring.encrypt("123456:secret", ALICE)
    assert a != b
    assert "secret" not in a
    assert ring.decrypt(a, ALICE) == ring.decrypt(b, ALICE) == "123456:secret"


@pytest.mark.parametrize(
    "elsewhere",
    [
        FieldContext("users", "telegram_token_enc", "0xBob"),  # another user's row
        FieldContext("users", "dydx_credentials_enc", "0xAlice"),  # another column
        FieldContext("accounts", "telegram_token_enc", "0xAlice"),  # another table
    ],
)
def test_ciphertext_moved_elsewhere_does_not_decrypt(elsewhere: FieldContext) -> None:
    ring = Keyring({1: K1}, primary=1)
    token = ring.encrypt("mnemonic words", ALICE)
    with pytest.raises(DecryptionError):
        ring.decrypt(token, elsewhere)


def test_tampering_and_garbage_are_refused_without_details() -> None:
    ring = Keyring({1: K1}, primary=1)
    token = ring.encrypt("x", ALICE)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "", "!!!", "AQ"):
        with pytest.raises(DecryptionError) as e:
            ring.decrypt(bad, ALICE)
        assert "x" not in str(e.value).split()


def test_rotation_keeps_old_values_readable_and_moves_them_to_the_new_key() -> None:
    old = Keyring({1: K1}, primary=1)
    token = old.encrypt("api-key", ALICE)
    both = Keyring({1: K1, 2: K2}, primary=2)
    assert both.decrypt(token, ALICE) == "api-key"
    assert both.needs_rotation(token)
    rotated = both.rotate(token, ALICE)
    assert both.key_id_of(rotated) == 2 and not both.needs_rotation(rotated)
    assert both.rotate(rotated, ALICE) == rotated
    retired = Keyring({2: K2}, primary=2)
    assert retired.decrypt(rotated, ALICE) == "api-key"
    with pytest.raises(DecryptionError, match="not loaded"):
        retired.decrypt(token, ALICE)


def test_keyring_rejects_bad_keys() -> None:
    with pytest.raises(ValueError):
        Keyring({1: b"short"}, primary=1)
    with pytest.raises(ValueError):
        Keyring({1: K1}, primary=2)
