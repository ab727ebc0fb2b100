"""SIP trunks set in the web admin (#19): sip_trunks

Revision ID: 0008_siptrunks
Revises: 0007_guard
Create Date: 2026-11-30 06:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_siptrunks'
down_revision = '0007_guard'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sip_trunks',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('host', sa.String(length=128), nullable=False),
        sa.Column('port', sa.Integer(), nullable=False),
        sa.Column('transport', sa.String(length=8), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('password', sa.String(length=128), nullable=False),
        sa.Column('register', sa.Boolean(), nullable=False),
        sa.Column('register_expires', sa.Integer(), nullable=False),
        sa.Column('inbound_auth', sa.Boolean(), nullable=False),
        sa.Column('outbound', sa.Boolean(), nullable=False),
        sa.Column('codecs', sa.String(length=32), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade():
    op.drop_table('sip_trunks')
