"""Nodes linked over SIP (#19): cdrs.correlation_id (the caller's first call id on every node's legs) and
cdrs.peer_node (the node a leg went to / came from)

Revision ID: 0007_sipnodes
Revises: 0007_routing
Create Date: 2026-11-30 04:50:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_sipnodes'
down_revision = '0007_routing'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('correlation_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('peer_node', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_cdrs_correlation_id', ['correlation_id'], unique=False)


def downgrade():
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.drop_index('ix_cdrs_correlation_id')
        batch_op.drop_column('peer_node')
        batch_op.drop_column('correlation_id')
