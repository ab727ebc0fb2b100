"""users.queues: the queues (agent groups) a supervisor looks after; '' = every queue

Revision ID: 0006_desk
Revises: 0005_ivr_utc
Create Date: 2026-11-30 02:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_desk'
down_revision = '0006_console'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queues', sa.Text(), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('queues')
