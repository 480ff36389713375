"""Every table. Money columns are `Money` (exact Decimal), timestamps `UTCDateTime`.

Columns ending in `_enc` hold AES-256-GCM ciphertext bound to the row's owner and the
column (see `trading_app.services.security.crypto`); they never hold plaintext.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from trading_app.db.columns import money_field as _money
from trading_app.db.columns import time_field as _time

# Statuses in which a position still needs watching: one such position per user and market
ACTIVE_POSITION_STATUSES = ("OPENING", "OPEN", "CLOSING", "FAILED_PROTECTION")
_ACTIVE_SQL = "status IN ('OPENING', 'OPEN', 'CLOSING', 'FAILED_PROTECTION')"
# Order statuses that are still working on (or not yet seen by) the venue
WORKING_ORDER_STATUSES = ("PENDING", "OPEN", "UNTRIGGERED", "PARTIALLY_FILLED")
_WORKING_SQL = "status IN ('PENDING', 'OPEN', 'UNTRIGGERED', 'PARTIALLY_FILLED')"


class User(SQLModel, table=True):
    """A trader, identified by the checksum address of their wallet."""

    __tablename__ = "users"

    address: str = Field(primary_key=True, max_length=42)
    webhook_uuid: str = Field(max_length=36, unique=True, index=True)
    webhook_secret_enc: str = Field(sa_column=Column(Text, nullable=False))
    webhook_secret_rotated_at: datetime = _time()
    webhook_ip_allowlist: bool = Field(default=False)
    dydx_credentials_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    dydx_credentials_set_at: datetime | None = _time(nullable=True)
    telegram_token_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    telegram_token_set_at: datetime | None = _time(nullable=True)
    telegram_chat_id_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    telegram_chat_id_set_at: datetime | None = _time(nullable=True)
    # the last repair order's sequence number: client ids for orders past a signal's own attempts
    repair_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    created_at: datetime = _time()


class LoginNonce(SQLModel, table=True):
    """A sign-in challenge: the exact EIP-4361 text we issued, single-use, short-lived."""

    __tablename__ = "login_nonces"

    nonce: str = Field(primary_key=True, max_length=64)
    address: str = Field(max_length=42, index=True)
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _time()
    expires_at: datetime = _time(index=True)


class UserSession(SQLModel, table=True):
    """A server-side session. The cookie holds a random token; we store only its hash."""

    __tablename__ = "sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    address: str = Field(foreign_key="users.address", max_length=42, index=True)
    created_at: datetime = _time()
    expires_at: datetime = _time()
    revoked_at: datetime | None = _time(nullable=True)
    # last use (moved at most once a minute); None: not used since it was created
    last_seen_at: datetime | None = _time(nullable=True)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=256)


class TradingAccount(SQLModel, table=True):
    """Where and how a user trades, and the risk defaults the engine applies."""

    __tablename__ = "trading_accounts"

    address: str = Field(foreign_key="users.address", primary_key=True, max_length=42)
    network: str = Field(default="paper", max_length=16)
    credential_kind: str = Field(default="none", max_length=16)
    dydx_address: str | None = Field(default=None, max_length=64)  # owner (dydx1...) of the subaccount
    authenticator_id: int | None = Field(default=None)
    subaccount_number: int = Field(default=0)
    size_mode: str = Field(default="size_usd", max_length=16)
    size_value: Decimal = _money(default=Decimal("100"))
    max_open_positions: int = Field(default=10)
    max_leverage: Decimal = _money(default=Decimal("5"))
    max_notional_usd: Decimal | None = _money(nullable=True)
    daily_loss_limit_usd: Decimal | None = _money(nullable=True)
    slippage_pct: Decimal = _money(default=Decimal("1"))
    same_market_policy: str = Field(default="reject", max_length=16)
    # bumped by every change of network, subaccount or credentials: a cached venue of an older
    # version is rebuilt before its next use, in every worker
    venue_version: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # set by /pause in Telegram or the Settings switch: alerts are then refused as `paused`
    paused_at: datetime | None = _time(nullable=True)
    updated_at: datetime = _time()


class Signal(SQLModel, table=True):
    """The alert inbox and audit log: every alert, accepted or rejected, with its outcome."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("user_address", "dedupe_key", name="uq_signals_user_dedupe"),
        Index("ix_signals_user_received", "user_address", "received_at"),
        Index("ix_signals_status", "status"),
        # executions of one trader's market run in arrival order: the claim looks for earlier ones
        Index("ix_signals_user_market_status", "user_address", "market", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_address: str = Field(foreign_key="users.address", max_length=42)
    received_at: datetime = _time()
    raw_body: str = Field(sa_column=Column(Text, nullable=False))  # secret masked
    content_type: str | None = Field(default=None, max_length=128)
    source_ip: str | None = Field(default=None, max_length=64)
    parsed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON
    action: str | None = Field(default=None, max_length=16)
    market: str | None = Field(default=None, max_length=32)
    dedupe_key: str | None = Field(default=None, max_length=128)
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    position_id: int | None = Field(default=None)
    # a test alert from the settings page: executed on the paper venue whatever the account's network
    paper: bool = Field(default=False)
    attempts: int = Field(default=0)
    claimed_at: datetime | None = _time(nullable=True)
    finished_at: datetime | None = _time(nullable=True)
    updated_at: datetime = _time()
    # when the inbox's write of this row began (its commit follows before the answer): the
    # "stored" phase of the alert's timeline, stamped in the write that already exists
    stored_at: datetime | None = _time(nullable=True)


class SignalEvent(SQLModel, table=True):
    """One phase of an alert's story (claimed, risk passed, entry sent, filled, ...), with its time.

    Written by the engine inside transactions it already has open (see
    `services.engine.timeline`); "received" and "stored" come from the signal row itself.
    `detail` is JSON text: the sizing for "risk_passed", the reason for "rejected", order ids.
    """

    __tablename__ = "signal_events"
    __table_args__ = (Index("ix_signal_events_signal", "signal_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    # no foreign key to signals: a story line is never worth failing the transaction that places a
    # stop-loss (it rides in the engine's own transactions, keyed by the position's signal id)
    signal_id: int
    user_address: str = Field(foreign_key="users.address", max_length=42)
    phase: str = Field(max_length=24)
    at: datetime = _time()
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Position(SQLModel, table=True):
    """A managed position and, once closed, its books."""

    __tablename__ = "positions"
    __table_args__ = (
        Index("ix_positions_user_status", "user_address", "status"),
        # one managed position per user, network and market while it is alive
        Index(
            "uq_positions_active_market",
            "user_address",
            "network",
            "market",
            unique=True,
            postgresql_where=text(_ACTIVE_SQL),
            sqlite_where=text(_ACTIVE_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_address: str = Field(foreign_key="users.address", max_length=42)
    signal_id: int | None = Field(default=None, index=True)
    network: str = Field(max_length=16)
    market: str = Field(max_length=32)
    side: str = Field(max_length=8)
    size: Decimal = _money(default=Decimal(0))
    entry_price: Decimal | None = _money(nullable=True)
    tp_price: Decimal | None = _money(nullable=True)
    sl_price: Decimal | None = _money(nullable=True)
    status: str = Field(max_length=24)
    opened_at: datetime = _time()
    updated_at: datetime = _time()
    closed_at: datetime | None = _time(nullable=True)
    exit_price: Decimal | None = _money(nullable=True)
    realized_pnl: Decimal | None = _money(nullable=True)
    fees: Decimal = _money(default=Decimal(0))
    close_reason: str | None = Field(default=None, max_length=24)
    # The market's grid when the position was opened: every price of it is shown on this tick and
    # every size on this step. Kept on the row (not looked up) because a closed trade stays on the
    # grid it traded on even if the venue changes the market's tick later, and showing the history
    # or a REST answer needs no venue call. NULL for positions opened before it was recorded.
    tick_size: Decimal | None = _money(nullable=True)
    step_size: Decimal | None = _money(nullable=True)
    # Scaling out (several take-profit levels, stop to break-even, trailing stop): the alert's plan as
    # `domain.scale_out.ScalePlan.to_json()`, with the level prices measured from the fill. NULL: one
    # target, a fixed stop (every position before scaling out existed). `sl_price` is always the stop
    # confirmed live on the venue; `trail_best` the best price seen since trailing started.
    scale_plan: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    trail_best: Decimal | None = _money(nullable=True)
    # take-profit levels whose fill has been booked: the trader told, the stop resized (once each)
    levels_done: int = Field(default=0)


class Order(SQLModel, table=True):
    """One venue order with everything needed to query or cancel it later."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint(
            "user_address", "network", "client_id", "order_flags", "clob_pair_id", name="uq_orders_client_id"
        ),
        # the monitor looks for working orders of closed positions every tick: keep that lookup small
        Index(
            "ix_orders_working",
            "status",
            postgresql_where=text(_WORKING_SQL),
            sqlite_where=text(_WORKING_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_address: str = Field(foreign_key="users.address", max_length=42, index=True)
    position_id: int | None = Field(default=None, foreign_key="positions.id", index=True)
    signal_id: int | None = Field(default=None)
    network: str = Field(max_length=16)
    market: str = Field(max_length=32)
    role: str = Field(max_length=16)
    # which take-profit level (1..4) a TAKE_PROFIT order is; NULL for every other order and single targets
    level: int | None = Field(default=None)
    order_type: str = Field(max_length=24)
    side: str = Field(max_length=8)
    size: Decimal = _money(default=Decimal(0))
    price: Decimal | None = _money(nullable=True)
    trigger_price: Decimal | None = _money(nullable=True)
    reduce_only: bool = Field(default=False)
    client_id: int = Field(sa_column=Column(BigInteger, nullable=False))  # uint32: above int4's range
    order_flags: int = Field(default=0)
    clob_pair_id: int = Field(default=0)
    subaccount: int = Field(default=0)
    good_til_block: int | None = Field(default=None)
    good_til_block_time: int | None = Field(default=None)
    venue_order_id: str | None = Field(default=None, max_length=64)
    tx_hash: str | None = Field(default=None, max_length=80)
    # a stateful placement not seen committed by this chain height never will be (mempool TTL)
    commit_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    status: str = Field(max_length=20)
    filled_size: Decimal = _money(default=Decimal(0))
    avg_fill_price: Decimal | None = _money(nullable=True)
    fee: Decimal = _money(default=Decimal(0))
    created_at: datetime = _time()
    updated_at: datetime = _time()


class Notification(SQLModel, table=True):
    """Every message we tried to send a user, and whether it arrived (failures never break trading)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_time", "user_address", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_address: str = Field(foreign_key="users.address", max_length=42)
    channel: str = Field(default="telegram", max_length=16)
    kind: str = Field(max_length=24)  # opened, closed, rejected, error, test
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)  # sent, failed, skipped (not configured)
    error: str | None = Field(default=None, max_length=256)  # the failure class and Telegram's words
    created_at: datetime = _time()


class TelegramLink(SQLModel, table=True):
    """How a trader's own bot receives their commands: webhook or polling, and whether it works.

    `hook_id` names the webhook route (`/api/telegram/{hook_id}`); Telegram sends `secret_hash`'s
    secret in a header, and only its SHA-256 is kept. `owner` and `lease_until` make one worker the
    poller of the bot; `token_set_at` is the token this row was set up for (a new token resets it).
    """

    __tablename__ = "telegram_links"

    user_address: str = Field(foreign_key="users.address", primary_key=True, max_length=42)
    hook_id: str = Field(max_length=43, unique=True, index=True)
    secret_hash: str | None = Field(default=None, max_length=64)
    mode: str = Field(default="off", max_length=16)  # webhook, polling, off
    token_set_at: datetime | None = _time(nullable=True)
    update_offset: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    owner: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = _time(nullable=True)
    status: str = Field(default="unknown", max_length=24)  # ok, bad_token, network_error, ...
    status_detail: str | None = Field(default=None, max_length=256)  # safe words, never the token
    checked_at: datetime | None = _time(nullable=True)


class TelegramConfirmation(SQLModel, table=True):
    """A /close or /closeall waiting for the trader's tap on Confirm; single use, short-lived."""

    __tablename__ = "telegram_confirmations"

    id: str = Field(primary_key=True, max_length=32)
    user_address: str = Field(foreign_key="users.address", max_length=42, index=True)
    action: str = Field(max_length=16)  # close, closeall
    market: str | None = Field(default=None, max_length=32)
    created_at: datetime = _time()
    expires_at: datetime = _time()
    used_at: datetime | None = _time(nullable=True)


# -- Position monitor: which worker reconciles which account ------------------------


class MonitorLease(SQLModel, table=True):
    """Who reconciles one account (user, network) until `expires_at`, and where its fill reads resume.

    A worker claims a lease only when it is free, expired or already its own, so an account has one
    owner at a time across workers and replicas; a dead owner's lease runs out and another claims it.
    """

    __tablename__ = "monitor_leases"

    user_address: str = Field(foreign_key="users.address", primary_key=True, max_length=42)
    network: str = Field(primary_key=True, max_length=16)
    owner: str | None = Field(default=None, max_length=128)
    expires_at: datetime = _time(index=True)
    fills_cursor: datetime | None = _time(nullable=True)  # newest venue fill already seen
    last_tick_at: datetime | None = _time(nullable=True)  # last reconcile that succeeded
    failures: int = Field(default=0)  # consecutive failed reconciles
    last_error: str | None = Field(default=None, max_length=128)  # exception class only, never a message


class MonitorWorker(SQLModel, table=True):
    """A live monitor worker: its heartbeat decides its share of the accounts."""

    __tablename__ = "monitor_workers"

    worker_id: str = Field(primary_key=True, max_length=128)
    started_at: datetime = _time()
    seen_at: datetime = _time(index=True)


class StopMove(SQLModel, table=True):
    """One decision to move a position's stop-loss (to break-even, trailing, resized), and its outcome.

    The trader's stop history: the dashboard lists these, Telegram tells them (rate-limited). A move
    is MOVED once the new stop is confirmed live on the venue and the old one cancelled; DEFERRED
    while the venue's order budget has no room; FAILED when the venue refused the new stop (the old
    one stays: a position is never without its stop).
    """

    __tablename__ = "stop_moves"
    __table_args__ = (Index("ix_stop_moves_user_position", "user_address", "position_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_address: str = Field(foreign_key="users.address", max_length=42)
    position_id: int = Field(foreign_key="positions.id")
    reason: str = Field(max_length=16)  # BREAK_EVEN, TRAIL, RESIZE
    old_price: Decimal | None = _money(nullable=True)
    new_price: Decimal = _money(default=Decimal(0))
    size: Decimal = _money(default=Decimal(0))
    outcome: str = Field(max_length=16)  # PLACING, MOVED, DEFERRED, FAILED
    order_id: int | None = Field(default=None)  # the new stop's `orders` row
    detail: str | None = Field(default=None, max_length=200)
    created_at: datetime = _time()
    updated_at: datetime = _time()


# the paper venue's tables live in their own module; imported here so every table is in one metadata
from trading_app.db.models_paper import PaperAccount, PaperFill, PaperOrder, PaperPosition  # noqa: E402

__all__ = [
    "ACTIVE_POSITION_STATUSES",
    "WORKING_ORDER_STATUSES",
    "LoginNonce",
    "MonitorLease",
    "MonitorWorker",
    "Notification",
    "Order",
    "PaperAccount",
    "PaperFill",
    "PaperOrder",
    "PaperPosition",
    "Position",
    "Signal",
    "SignalEvent",
    "StopMove",
    "TelegramConfirmation",
    "TelegramLink",
    "TradingAccount",
    "User",
    "UserSession",
]
