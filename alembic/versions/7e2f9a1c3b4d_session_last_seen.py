"""sessions: last use, for the idle timeout

Revision ID: 7e2f9a1c3b4d
Revises: 5c1d2e3f4a5b
Create Date: 2026-12-02 17:50:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import trading_app.db.types

revision: str = '7e2f9a1c3b4d'
down_revision: Union[str, Sequence[str], None] = '5c1d2e3f4a5b'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # NULL for the sessions open at the upgrade: their idle time counts from their creation
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', trading_app.db.types.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
