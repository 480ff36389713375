"""venue truth: commit deadlines, venue versions, repair ids, per-market execution order

Revision ID: 5c1d2e3f4a5b
Revises: 0b402640e653
Create Date: 2026-12-02 14:50:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '5c1d2e3f4a5b'
down_revision: Union[str, Sequence[str], None] = '0b402640e653'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commit_by', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('repair_seq', sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('trading_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('venue_version', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.create_index('ix_signals_user_market_status', ['user_address', 'market', 'status'],
                              unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.drop_index('ix_signals_user_market_status')
    with op.batch_alter_table('trading_accounts', schema=None) as batch_op:
        batch_op.drop_column('venue_version')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('repair_seq')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('commit_by')
