"""The settings page's alert tools: the TradingView message builder and "Send a test alert".

- `build_alert(address, form)`: the trader's builder form (text as typed) -> `build_template`
  checked against the market's real rules on the trader's venue (the paper venue for a paper
  account, else the account's dYdX network). The message carries a placeholder instead of the
  secret unless `reveal=True` (the Copy button, which puts it on the clipboard only).
- `send_test_alert(address, form)`: the built message with TradingView's placeholders filled
  (a `buy` for a strategy message, a fresh `test-...` alert id, the time now), sent through the
  real webhook path (`inbox.receive_alert`) flagged `paper`, then dispatched. The paper flag makes
  the engine run it on the paper venue whatever network the account trades on, so a test never
  places a real order.

The webhook secret is opened inside these calls only and never returned unless asked to reveal.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from trading_app.db.engine import session_scope
from trading_app.domain.enums import Network, SizeMode
from trading_app.domain.numbers import ascii_int
from trading_app.domain.templates import (
    ACTIONS,
    STRATEGY_ACTION,
    BuiltTemplate,
    TemplateChoices,
    build_template,
)
from trading_app.domain.tickers import normalize_market
from trading_app.services.accounts.account import load_account
from trading_app.services.accounts.venues import venue_for
from trading_app.services.intake import dispatch, inbox
from trading_app.services.security.secrets import open_secret
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import UnknownMarket, VenueError

SECRET_PLACEHOLDER = "<your webhook secret>"  # noqa: S105 - what the page shows instead of it
SIZE_MODES = {
    "size": SizeMode.FIXED,
    "size_usd": SizeMode.USD,
    "risk_pct": SizeMode.RISK_PCT,
    "default": None,  # no size in the message: the account's default applies
}
ORDER_TYPES = ("market", "limit")
TEST_SOURCE = "settings-page"
_PLAIN_DECIMAL = re.compile(r"^\d{1,12}(\.\d{1,8})?$")
_ALERT_ID = re.compile(r'"alert_id": "[^"]*"')


@dataclass(frozen=True)
class TestAlertResult:
    """What became of a test alert: `ok` when it was accepted (then `signal_id` is its row)."""

    ok: bool
    message: str
    signal_id: int | None = None
    details: list[str] = field(default_factory=list)


def _number(form: Mapping[str, str], name: str, errors: list[str]) -> Decimal | None:
    text = str(form.get(name) or "").strip()
    if not text:
        return None
    if not _PLAIN_DECIMAL.match(text):
        errors.append(f"{name} must be a plain positive number like 1.5 (at most 8 decimals).")
        return None
    return Decimal(text)


def _numbers(form: Mapping[str, str], name: str, errors: list[str]) -> tuple[Decimal, ...]:
    """A comma-separated list of plain numbers ("1, 3"); empty means none."""
    text = str(form.get(name) or "").strip()
    if not text:
        return ()
    items = [item.strip() for item in text.split(",")]
    if len(items) > 4 or not all(_PLAIN_DECIMAL.match(item) for item in items):
        errors.append(f"{name} must be up to 4 plain positive numbers separated by commas, like 1, 3.")
        return ()
    return tuple(Decimal(item) for item in items)


def _level(form: Mapping[str, str], name: str, errors: list[str]) -> int | None:
    text = str(form.get(name) or "").strip()
    if not text:
        return None
    number = ascii_int(text, 0, 4)
    if number is None:
        errors.append(f"{name} must be a take-profit level number from 0 to 4.")
    return number


def parse_choices(form: Mapping[str, str]) -> tuple[TemplateChoices, list[str]]:
    """The builder form (field -> text typed) as `TemplateChoices`, plus the input problems found.

    Empty numbers mean "not in the message"; `size_mode` "default" leaves the size out. `tp_pct`,
    `rr` and `tp_split` take comma-separated lists ("1, 3"): several take-profit levels.
    """
    errors: list[str] = []
    action = str(form.get("action") or "strategy").strip()
    mode_text = str(form.get("size_mode") or "size_usd").strip()
    if mode_text not in SIZE_MODES:
        errors.append(f"size mode must be one of {', '.join(SIZE_MODES)}.")
    mode = SIZE_MODES.get(mode_text)
    order_type = str(form.get("order_type") or "market").strip()
    if order_type not in ORDER_TYPES:
        errors.append("order type must be market or limit.")
    size = _number(form, "size_value", errors)
    if mode is not None and size is None and not errors:
        errors.append("Enter a size value, or choose the account default.")
    tp_pct, rr = _numbers(form, "tp_pct", errors), _numbers(form, "rr", errors)
    levels = tp_pct or rr
    choices = TemplateChoices(
        market=str(form.get("market") or "").strip(),
        action=action,
        size_mode=mode,
        size_value=size if mode is not None else None,
        sl_pct=_number(form, "sl_pct", errors),
        tp_pct=tp_pct[0] if tp_pct else None,
        rr=rr[0] if rr else None,
        order_type=order_type,
        limit_price=_number(form, "limit_price", errors) if order_type == "limit" else None,
        tp_more=levels[1:],
        tp_split=_numbers(form, "tp_split", errors),
        be_after_tp=_level(form, "be_after_tp", errors),
        trail_pct=_number(form, "trail_pct", errors),
        trail_after_tp=_level(form, "trail_after_tp", errors),
    )
    return choices, errors


async def _account(address: str) -> tuple[str, str, Network]:
    """(webhook uuid, webhook secret, network) of the trader."""
    async with session_scope() as session:
        user, account = await load_account(session, address)
        secret = open_secret(address, "webhook_secret_enc", user.webhook_secret_enc)
        return user.webhook_uuid, secret, Network(account.network)


async def market_rules(address: str, network: Network, market: str) -> MarketSpec | None:
    """The rules of `market` on the trader's venue for `network`; None when it is not listed.

    Raises:
        VenueError: the venue could not be asked (down, not configured).
    """
    ticker = normalize_market(market)
    if ticker is None:
        return None
    venue = await venue_for(address, network)
    try:
        return await venue.market(ticker)
    except UnknownMarket:
        return None


async def _build(
    address: str, form: Mapping[str, str], network: Network | None = None
) -> tuple[BuiltTemplate, str, str]:
    """(template with the real secret, the secret, the webhook uuid), checked on `network`
    (default: the account's own)."""
    webhook_uuid, secret, account_network = await _account(address)
    network = network or account_network
    choices, problems = parse_choices(form)
    if not choices.market:
        problems.append("Enter a market, e.g. BTC-USD or BTCUSDT.P.")
    if problems:
        return BuiltTemplate("", problems, []), secret, webhook_uuid
    try:
        rules = await market_rules(address, network, choices.market)
    except VenueError as e:
        where = "the paper venue" if network is Network.PAPER else f"dYdX {network.value}"
        reason = (str(e) or type(e).__name__)[:200]
        problem = f"Could not read the market from {where}: {reason}"
        return BuiltTemplate("", [problem], []), secret, webhook_uuid
    return build_template(choices, rules, secret), secret, webhook_uuid


def mask(message: str, secret: str) -> str:
    """`message` with the secret replaced by SECRET_PLACEHOLDER."""
    return message.replace(json.dumps(secret), json.dumps(SECRET_PLACEHOLDER)) if message else message


async def build_alert(address: str, form: Mapping[str, str], *, reveal: bool = False) -> BuiltTemplate:
    """Build the trader's alert message from the builder form, checked against the live market.

    Args:
        address: The trader (from the verified session).
        form: The builder's fields as typed: market, action, size_mode, size_value, sl_pct,
            tp_pct, rr, order_type, limit_price, tp_split, be_after_tp, trail_pct, trail_after_tp.
        reveal: Put the real webhook secret in the message (Copy); else a placeholder.

    Raises:
        UnknownUser: The address has no user row.
    """
    built, secret, _ = await _build(address, form)
    return built if reveal else BuiltTemplate(mask(built.message, secret), built.errors, built.notes)


def concrete_alert(message: str, *, side: str, alert_id: str, now: datetime) -> str:
    """The alert TradingView would send for `message`: placeholders filled in."""
    stamp = json.dumps(now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    text = _ALERT_ID.sub(lambda _: f'"alert_id": {json.dumps(alert_id)}', message, count=1)
    return text.replace(json.dumps(STRATEGY_ACTION), json.dumps(side)).replace('"{{timenow}}"', stamp)


def _outcome(receipt: inbox.Receipt, lane: str) -> TestAlertResult:
    details = list(receipt.details)
    if receipt.outcome is inbox.Verdict.ACCEPTED:
        assert receipt.signal_id is not None
        dispatch.dispatch(receipt.signal_id, lane)
        text = f"Test alert #{receipt.signal_id} accepted: watch it on the dashboard / alert log."
        return TestAlertResult(True, text, receipt.signal_id)
    if receipt.outcome is inbox.Verdict.DUPLICATE:
        return TestAlertResult(
            False, f"Duplicate of alert #{receipt.signal_id}: not executed again.", receipt.signal_id
        )
    if receipt.outcome is inbox.Verdict.UNAUTHORIZED:
        return TestAlertResult(False, "Refused: the webhook secret changed meanwhile. Try again.")
    return TestAlertResult(
        False,
        f"Test alert #{receipt.signal_id} rejected ({receipt.outcome.value}): {receipt.reason}",
        receipt.signal_id,
        details,
    )


async def send_test_alert(
    address: str, form: Mapping[str, str], *, now: datetime | None = None
) -> TestAlertResult:
    """Send the builder's alert through the real webhook path as a paper test, and start it.

    A strategy message is sent as a `buy`. It is checked against the paper venue's markets, where
    it will run. Nothing is sent while the builder shows errors.

    Raises:
        UnknownUser: The address has no user row.
    """
    built, secret, webhook_uuid = await _build(address, form, Network.PAPER)
    if not built.ok:
        text = "Fix the template first: " + " ".join(built.errors)
        return TestAlertResult(False, text, details=built.errors)
    now = now or datetime.now(UTC)
    body = concrete_alert(built.message, side="buy", alert_id=f"test-{secrets.token_hex(6)}", now=now)
    alert = inbox.IncomingAlert(
        webhook_uuid=webhook_uuid,
        body=body.encode(),
        received_at=now,
        source_ip=TEST_SOURCE,
        content_type="application/json",
        paper=True,
    )
    del secret, body  # the stored copy is masked by the inbox
    try:
        receipt = await inbox.receive_alert(alert)
    except inbox.InboxUnavailable:
        return TestAlertResult(False, "The alert could not be stored right now; nothing was sent. Try again.")
    return _outcome(receipt, webhook_uuid)


__all__ = [
    "ACTIONS",
    "ORDER_TYPES",
    "SECRET_PLACEHOLDER",
    "SIZE_MODES",
    "TestAlertResult",
    "build_alert",
    "concrete_alert",
    "mask",
    "market_rules",
    "parse_choices",
    "send_test_alert",
]
