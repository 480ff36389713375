"""Scaling out: positions.scale_plan, trail_best and levels_done, orders.level, stop_moves

Revision ID: 6b8d0f2a4c6e
Revises: 4d7e1a2b9c3f
Create Date: 2026-12-03 06:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import trading_app.db.types

revision: str = "6b8d0f2a4c6e"
down_revision: Union[str, Sequence[str], None] = "4d7e1a2b9c3f"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _money(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, trading_app.db.types.Money(precision=38, scale=18), nullable=nullable)


def _time(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, trading_app.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Upgrade schema."""
    # NULL for every position and order before: one target, a fixed stop, as they were placed
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scale_plan", sa.Text(), nullable=True))
        batch_op.add_column(_money("trail_best", True))
        batch_op.add_column(sa.Column("levels_done", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level", sa.Integer(), nullable=True))
    op.create_table(
        "stop_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_address", sa.String(length=42), nullable=False),
        sa.Column("position_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        _money("old_price", True),
        _money("new_price", False),
        _money("size", False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        _time("created_at", False),
        _time("updated_at", False),
        sa.ForeignKeyConstraint(["position_id"], ["positions.id"]),
        sa.ForeignKeyConstraint(["user_address"], ["users.address"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stop_moves", schema=None) as batch_op:
        batch_op.create_index("ix_stop_moves_user_position", ["user_address", "position_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("stop_moves", schema=None) as batch_op:
        batch_op.drop_index("ix_stop_moves_user_position")
    op.drop_table("stop_moves")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("level")
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_column("levels_done")
        batch_op.drop_column("trail_best")
        batch_op.drop_column("scale_plan")
