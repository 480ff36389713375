"""positions: the market's tick and step at open, for showing prices and sizes on the grid

Revision ID: 9a3c5e7f1b2d
Revises: 7e2f9a1c3b4d
Create Date: 2026-12-03 02:10:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import trading_app.db.types

revision: str = '9a3c5e7f1b2d'
down_revision: Union[str, Sequence[str], None] = '7e2f9a1c3b4d'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # NULL for the positions open at the upgrade: they are shown as stored, as before
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tick_size', trading_app.db.types.Money(precision=38, scale=18), nullable=True))
        batch_op.add_column(sa.Column('step_size', trading_app.db.types.Money(precision=38, scale=18), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.drop_column('step_size')
        batch_op.drop_column('tick_size')
