"""Staff schedules (#17): shifts (班次) of a queue's agents or of one agent

Revision ID: 0007_schedules
Revises: 0007_console2
Create Date: 2026-11-30 05:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_schedules'
down_revision = '0007_console2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'acd_shifts',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('group', sa.String(length=64), nullable=False),
        sa.Column('agent', sa.String(length=64), nullable=False),
        sa.Column('weekdays', sa.String(length=64), nullable=False),
        sa.Column('start', sa.String(length=5), nullable=False),
        sa.Column('end', sa.String(length=5), nullable=False),
        sa.Column('breaks', sa.String(length=255), nullable=False),
        sa.Column('calendar', sa.String(length=64), nullable=False),
        sa.Column('enabled', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade():
    op.drop_table('acd_shifts')
