"""Telegram remote control: trading_accounts.paused_at, telegram_links, telegram_confirmations

Revision ID: 4d7e1a2b9c3f
Revises: 9a3b5c7d1e2f
Create Date: 2026-12-03 03:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import trading_app.db.types

revision: str = "4d7e1a2b9c3f"
down_revision: Union[str, Sequence[str], None] = "9a3b5c7d1e2f"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _time(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, trading_app.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("trading_accounts", schema=None) as batch_op:
        batch_op.add_column(_time("paused_at", True))
    op.create_table(
        "telegram_links",
        sa.Column("user_address", sa.String(length=42), nullable=False),
        sa.Column("hook_id", sa.String(length=43), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        _time("token_set_at", True),
        sa.Column("update_offset", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        _time("lease_until", True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_detail", sa.String(length=256), nullable=True),
        _time("checked_at", True),
        sa.ForeignKeyConstraint(["user_address"], ["users.address"]),
        sa.PrimaryKeyConstraint("user_address"),
    )
    with op.batch_alter_table("telegram_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telegram_links_hook_id"), ["hook_id"], unique=True)
    op.create_table(
        "telegram_confirmations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_address", sa.String(length=42), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=True),
        _time("created_at", False),
        _time("expires_at", False),
        _time("used_at", True),
        sa.ForeignKeyConstraint(["user_address"], ["users.address"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("telegram_confirmations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telegram_confirmations_user_address"), ["user_address"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("telegram_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_confirmations_user_address"))
    op.drop_table("telegram_confirmations")
    with op.batch_alter_table("telegram_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_links_hook_id"))
    op.drop_table("telegram_links")
    with op.batch_alter_table("trading_accounts", schema=None) as batch_op:
        batch_op.drop_column("paused_at")
