"""Service context wiring (#17): lookup sources flows query by name; a campaign's calling window

Revision ID: 0006_wiring
Revises: 0005_ivr_utc
Create Date: 2026-11-30 02:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_wiring'
down_revision = '0006_desk'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'ivr_lookup_sources',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('query', sa.Text(), nullable=False),
        sa.Column('field', sa.String(length=120), nullable=False),
        sa.Column('timeout', sa.Float(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    with op.batch_alter_table('ivr_campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar', sa.String(length=80), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('ivr_campaigns', schema=None) as batch_op:
        batch_op.drop_column('calendar')
    op.drop_table('ivr_lookup_sources')
