"""Inbound routes (#15) and recording policy (#17): ivr_inbound_routes (with the shipped demo route
95588 -> hotline), cdrs.recording_policy, recordings.policy/part, ivr_campaigns.recording

Revision ID: 0007_routing
Revises: 0007_schedules
Create Date: 2026-11-30 05:00:00.000000
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa


revision = '0007_routing'
down_revision = '0007_schedules'
branch_labels = None
depends_on = None


def upgrade():
    routes = op.create_table(
        'ivr_inbound_routes',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('trunk', sa.String(length=16), nullable=False),
        sa.Column('span', sa.Integer(), nullable=True),
        sa.Column('calendar', sa.String(length=80), nullable=False),
        sa.Column('flow', sa.String(length=80), nullable=False),
        sa.Column('after_hours_flow', sa.String(length=80), nullable=False),
        sa.Column('record', sa.String(length=8), nullable=False),
        sa.Column('enabled', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(routes, [{
        'name': 'demo-95588', 'priority': 100, 'number': '95588', 'trunk': '', 'span': None, 'calendar': '',
        'flow': 'hotline', 'after_hours_flow': '', 'record': '', 'enabled': 1,
        'updated_at': dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)}])
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording_policy', sa.String(length=8), nullable=False, server_default=''))
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('part', sa.String(length=8), nullable=True))
    with op.batch_alter_table('ivr_campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording', sa.String(length=8), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('ivr_campaigns', schema=None) as batch_op:
        batch_op.drop_column('recording')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_column('part')
        batch_op.drop_column('policy')
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.drop_column('recording_policy')
    op.drop_table('ivr_inbound_routes')
