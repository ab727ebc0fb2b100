"""Data care (#17): recordings.complaint_open — an open complaint keeps a recording from retention

Revision ID: 0006_backup
Revises: 0006_wiring (branched from `wiring`; the lead re-chains on merge)
Create Date: 2026-11-30 03:05:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_backup'
down_revision = '0006_mail'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('complaint_open', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_column('complaint_open')
