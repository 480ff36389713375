"""the story of each alert: signal_events (its timeline) and signals.stored_at

Revision ID: 9a3b5c7d1e2f
Revises: 9a3c5e7f1b2d
Create Date: 2026-12-03 02:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import trading_app.db.types

revision: str = "9a3b5c7d1e2f"
down_revision: Union[str, Sequence[str], None] = "9a3c5e7f1b2d"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # NULL for the alerts stored before: their timeline starts at received
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stored_at", trading_app.db.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "signal_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("user_address", sa.String(length=42), nullable=False),
        sa.Column("phase", sa.String(length=24), nullable=False),
        sa.Column("at", trading_app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_address"],
            ["users.address"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signal_events", schema=None) as batch_op:
        batch_op.create_index("ix_signal_events_signal", ["signal_id", "at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("signal_events", schema=None) as batch_op:
        batch_op.drop_index("ix_signal_events_signal")
    op.drop_table("signal_events")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_column("stored_at")
