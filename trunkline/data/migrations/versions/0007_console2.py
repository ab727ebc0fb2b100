"""span_alarm_events: the alarm history of the board's spans (raised / cleared, when)

Revision ID: 0007_console2
Revises: 0006_backup
Create Date: 2026-11-30 04:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_console2'
down_revision = '0006_backup'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'span_alarm_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('board', sa.String(length=255), nullable=False),
        sa.Column('span', sa.Integer(), nullable=False),
        sa.Column('alarm', sa.String(length=8), nullable=False),
        sa.Column('event', sa.String(length=8), nullable=False),
        sa.Column('bits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_span_alarm_events_at', 'span_alarm_events', ['at'])
    op.create_index('ix_span_alarm_events_span', 'span_alarm_events', ['span'])


def downgrade():
    op.drop_index('ix_span_alarm_events_span', table_name='span_alarm_events')
    op.drop_index('ix_span_alarm_events_at', table_name='span_alarm_events')
    op.drop_table('span_alarm_events')
