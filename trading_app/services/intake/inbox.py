"""Accepting a TradingView alert: authenticate, validate, store once, say what happened.

`receive_alert` is the whole decision; the HTTP route only maps its `Receipt` to a status.
The order of checks, and why:

1. the webhook UUID (path) and `secret` (body) together, in constant time; an unknown UUID
   costs the same compare as a wrong secret, and both are UNAUTHORIZED (nothing stored);
2. the optional allowlist of TradingView's addresses (the trader's switch in Settings,
   `account.set_webhook_allowlist`) -> FORBIDDEN (stored as REJECTED);
3. the body: UTF-8, JSON object, `parse_signal`, the market check -> INVALID (stored as
   REJECTED with every problem);
4. the per-minute cap of the webhook -> CAPPED (stored as REJECTED, answered 200: TradingView
   must not retry it, and the trader sees it in the log);
   every refusal from 2. on is told to the trader (Telegram, and a push to the alert log:
   `rejections.tell_refused`); an unauthorized request is nobody's alert and is never told;
5. the durable insert -> ACCEPTED, or DUPLICATE of the first copy (no second row).

Only an authenticated request ever writes a row. When the database cannot be read or
written, `InboxUnavailable` is raised and nothing was stored, so a 5xx (and TradingView's
resend) is safe.

Decisions:
- Duplicates: an `alert_id` names an alert for good (it is the trader's idempotency key); an
  alert without one is a duplicate of an identical body (secret aside, key order and spacing
  ignored) received within `webhook_dedupe_window_seconds`. DUPLICATE is an answer, not a row.
- The cap counts the webhook's alerts of the last 60 s that passed validation (rows with a
  dedupe key), read with the owner lookup at most once a second per worker and kept up to date
  in between with the alerts this worker stores, plus the copies ahead in the same lookup
  batch. Other workers' alerts of the last second are not seen, so it can be overshot by about
  a second's worth per worker: it is a brake for a runaway strategy, not an exact quota. A
  capped alert keeps no dedupe key, so it never hides a later copy.
- The market is checked on the network the alert will trade on (the owner's network, read with
  the owner; paper for a test alert), and refused only when that network's list says so for
  certain; when the list cannot be had, the alert is accepted and the engine refuses it later
  with a visible reason.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from trading_app.domain.alert_body import Body, decode_body, dedupe_key
from trading_app.domain.enums import Network, SignalStatus
from trading_app.domain.errors import InvalidSignal, RejectReason
from trading_app.domain.json_text import storable
from trading_app.domain.masking import WITHHELD, mask_body
from trading_app.domain.sent import sent_fields
from trading_app.domain.signals import ParsedSignal, parse_signal
from trading_app.services.accounts.pause import PAUSED_DETAIL
from trading_app.services.intake import signal_store
from trading_app.services.intake.market_check import market_exists
from trading_app.services.intake.rejections import tell_refused
from trading_app.services.security.crypto import DecryptionError, get_keyring
from trading_app.services.security.secrets import open_secret
from trading_app.settings import get_settings

log = logging.getLogger(__name__)

# TradingView's published webhook senders (tradingview.com/support/solutions/43000529348)
TRADINGVIEW_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DUMMY_DIGEST = hashlib.sha256(secrets.token_bytes(32)).digest()
INTERNAL_ERROR = "internal error while validating this alert; it was not executed"


class Verdict(StrEnum):
    """What became of one request."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    CAPPED = "capped"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    PAUSED = "paused"  # the trader paused trading: stored as REJECTED `paused`, answered 200
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True)
class Receipt:
    """The verdict. `signal_id` is the stored row (for DUPLICATE: the first copy's row)."""

    outcome: Verdict
    signal_id: int | None = None
    details: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reason(self) -> str:
        """The stored reason text (rejections)."""
        return "; ".join(self.details)


class InboxUnavailable(Exception):
    """The database could not be read or written; nothing was stored."""


@dataclass(frozen=True)
class IncomingAlert:
    """One webhook request as received."""

    webhook_uuid: str
    body: bytes = field(repr=False)  # holds the secret
    received_at: datetime
    source_ip: str
    content_type: str | None = None
    # a test alert sent from the settings page: runs on the paper venue whatever the account's network
    paper: bool = False


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class _SecretDigests:
    """SHA-256 of each webhook's opened secret, keyed by (owner, ciphertext): opening it costs an
    AES-GCM decryption per alert, a digest lookup a dict access. Keyed by the ciphertext read with
    the owner on every alert, a rotated secret (new ciphertext) misses at once: no staleness. Only
    digests are kept, never a plaintext; a new keyring (settings reloaded) starts afresh."""

    MAX = 4096  # entries; cleared when full (a rotation leaves its old entry behind)

    def __init__(self) -> None:
        self._ring: object = None
        self._digests: dict[tuple[str, str], bytes] = {}

    def get(self, address: str, token: str) -> bytes:
        ring = get_keyring()
        if ring is not self._ring:
            self._ring, self._digests = ring, {}
        digest = self._digests.get((address, token))
        if digest is None:
            if len(self._digests) >= self.MAX:
                self._digests = {}
            digest = _digest(open_secret(address, "webhook_secret_enc", token))
            self._digests[(address, token)] = digest
        return digest


_secret_digests = _SecretDigests()


def _secret_matches(given: str | None, expected: bytes | None) -> bool:
    # digests of equal length compared in constant time, also when there is nothing to compare
    # with (unknown webhook), so every refusal costs the same
    target = expected if expected is not None else _DUMMY_DIGEST
    return hmac.compare_digest(_digest(given or ""), target) and given is not None and expected is not None


def from_tradingview(source_ip: str) -> bool:
    """True when `source_ip` is one of TradingView's webhook addresses (IPv4-mapped IPv6 too)."""
    try:
        ip = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in TRADINGVIEW_IPS


async def _store(row: signal_store.NewSignal) -> signal_store.StoredSignal:
    try:
        return await signal_store.store_signal(row)
    except Exception as e:
        log.error("could not store an alert for %s: %s", row.user_address, type(e).__name__)
        raise InboxUnavailable from e


async def receive_alert(alert: IncomingAlert) -> Receipt:
    """Decide on one webhook request and store it (see the module docstring for the order).

    Raises:
        InboxUnavailable: the database failed; nothing was stored for this request.
    """
    body = decode_body(alert.body)
    owner = None
    if _UUID.match(alert.webhook_uuid):
        try:
            owner = await signal_store.lookup_webhook(alert.webhook_uuid.lower())
        except Exception as e:
            log.error("webhook lookup failed: %s", type(e).__name__)
            raise InboxUnavailable from e
    try:
        expected = _secret_digests.get(owner.address, owner.secret_enc) if owner else None
    except DecryptionError as e:  # a master key is missing: our fault, and nothing is stored
        log.error("cannot open the webhook secret of %s: %s", owner.address if owner else "-", e)
        raise InboxUnavailable from e
    if not _secret_matches(body.given_secret, expected) or owner is None or body.given_secret is None:
        return Receipt(Verdict.UNAUTHORIZED)
    secret = body.given_secret  # equal to the stored secret: its digest matched

    settings = get_settings()
    parsed: ParsedSignal | None = None
    key = None
    if owner.ip_allowlist and not from_tradingview(alert.source_ip):
        outcome = Verdict.FORBIDDEN
        details: tuple[str, ...] = (
            f"source address {alert.source_ip[:64]} is not one of TradingView's webhook addresses",
        )
    else:
        outcome, details, parsed, key = await _judge(body, alert, owner, secret)

    masked = mask_body(body.text, secret, body.payload)
    if masked == WITHHELD:
        log.warning("an alert body of %s could not be masked; storing a placeholder", owner.address)
    row = signal_store.NewSignal(
        user_address=owner.address,
        received_at=alert.received_at,
        raw_body=masked,
        status=SignalStatus.ACCEPTED.value if outcome is Verdict.ACCEPTED else SignalStatus.REJECTED.value,
        content_type=storable(alert.content_type)[:128] if alert.content_type else None,
        source_ip=alert.source_ip[:64],
        reason="; ".join(details) or None,
        parsed=json.dumps(parsed.to_dict()) if parsed else None,
        action=parsed.action.value if parsed else None,
        market=parsed.market if parsed else None,
        dedupe_key=key if outcome is Verdict.ACCEPTED else None,
        dedupe_window=settings.webhook_dedupe_window_seconds if key and key.startswith("body:") else None,
        paper=alert.paper,
    )
    stored = await _store(row)
    if stored.duplicate:
        outcome = Verdict.DUPLICATE
    elif outcome is not Verdict.ACCEPTED:
        # refused at the door: the engine never sees it, so it is told from here
        network = Network.PAPER.value if alert.paper else owner.network
        await tell_refused(owner.address, network, stored.signal_id, row.reason or "", masked)
    return Receipt(outcome, stored.signal_id, details)


async def _judge(
    body: Body, alert: IncomingAlert, owner: signal_store.WebhookOwner, secret: str
) -> tuple[Verdict, tuple[str, ...], ParsedSignal | None, str | None]:
    """Validation and the per-minute cap: (outcome, details, parsed alert, dedupe key)."""
    try:
        parsed, key = await _validate(body, alert, owner, secret)
    except InvalidSignal as e:
        return Verdict.INVALID, tuple(storable(d) for d in e.details), None, None
    except Exception:  # noqa: BLE001 - a bug must not turn bad input into a 5xx and a resend loop
        log.exception("validating an alert of %s failed", owner.address)
        return Verdict.INVALID, (INTERNAL_ERROR,), None, None
    cap = get_settings().webhook_per_minute_cap
    if owner.recent >= cap:
        reason = f"per-minute cap: more than {cap} alerts in the last minute for this webhook; not executed"
        return Verdict.CAPPED, (reason,), parsed, key
    # read with the owner (same query, same freshness as the secret): no round trip of its own
    if owner.paused:
        # a test alert too: a paused account trades nothing, not even on paper
        return Verdict.PAUSED, (f"{RejectReason.PAUSED.value}: {PAUSED_DETAIL}",), parsed, key
    return Verdict.ACCEPTED, (), parsed, key


async def _validate(
    body: Body, alert: IncomingAlert, owner: signal_store.WebhookOwner, secret: str
) -> tuple[ParsedSignal, str]:
    """The parsed alert and its dedupe key, or InvalidSignal with every problem."""
    if body.problem is not None:
        raise InvalidSignal([body.problem])
    parsed = parse_signal(
        body.payload, now=alert.received_at, max_lag_seconds=get_settings().webhook_max_lag_seconds
    )
    # on the network the alert trades on: the owner's, or paper for a test alert (see alert_tools)
    network = Network.PAPER.value if alert.paper else owner.network
    if await market_exists(network, parsed.market) is False:
        sent = sent_fields(body.text)[1]
        # what the trader wrote, and the ticker it was read as when that differs
        named = parsed.market if sent in (None, parsed.market) else f"{sent} (read as {parsed.market})"
        raise InvalidSignal([f"market: {named} is not listed on your venue"])
    try:
        # the decoded text (BOM dropped) is valid JSON here, so the key comes from its canonical form
        key = dedupe_key(parsed, body.text.encode("utf-8", "surrogatepass"))
        key.encode("utf-8")
    except (UnicodeEncodeError, ArithmeticError):
        # an alert_id with a lone surrogate, a number beyond Decimal's range: hash what we can store
        name = parsed.alert_id if parsed.alert_id is not None else body.text.replace(secret, "")
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
        key = f"{'idh' if parsed.alert_id is not None else 'body'}:{digest}"
    return parsed, key


__all__ = [
    "INTERNAL_ERROR",
    "TRADINGVIEW_IPS",
    "InboxUnavailable",
    "IncomingAlert",
    "Verdict",
    "Receipt",
    "from_tradingview",
    "receive_alert",
]
