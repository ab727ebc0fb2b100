"""Dial plan (#16 toll fraud, #15 outbound routes): outbound_routes, dial_rules, dial_caps; agent and
voicemail PINs hashed (acd_agents.pin widened; plaintext PINs hashed in place)

Revision ID: 0007_guard
Revises: 0007_sipnodes
Create Date: 2026-11-30 05:10:00.000000
"""
from alembic import op
import sqlalchemy as sa

from trunkline.data.pins import is_hashed, hash_pin


revision = '0007_guard'
down_revision = '0007_sipnodes'
branch_labels = None
depends_on = None


def _hash_plain(table, key):
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT {key}, pin FROM {table}")).fetchall()
    for k, pin in rows:
        if pin and not is_hashed(pin):
            conn.execute(sa.text(f"UPDATE {table} SET pin = :p WHERE {key} = :k"), {"p": hash_pin(pin), "k": k})


def upgrade():
    op.create_table(
        'outbound_routes',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('pattern', sa.String(length=64), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('trunk', sa.String(length=16), nullable=False),
        sa.Column('strip', sa.Integer(), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('caller_id', sa.String(length=32), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'dial_rules',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('pattern', sa.String(length=64), nullable=False),
        sa.Column('dest_class', sa.String(length=16), nullable=False),
        sa.Column('action', sa.String(length=8), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'dial_caps',
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('account', sa.String(length=64), nullable=False),
        sa.Column('per_hour', sa.Integer(), nullable=False),
        sa.Column('per_day', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('role', 'account'),
    )
    with op.batch_alter_table('acd_agents', schema=None) as batch_op:
        batch_op.alter_column('pin', existing_type=sa.String(length=32), type_=sa.String(length=128))
    _hash_plain('acd_agents', 'id')
    _hash_plain('ivr_voicemail_boxes', 'id')


def downgrade():
    with op.batch_alter_table('acd_agents', schema=None) as batch_op:
        batch_op.alter_column('pin', existing_type=sa.String(length=128), type_=sa.String(length=32))
    op.drop_table('dial_caps')
    op.drop_table('dial_rules')
    op.drop_table('outbound_routes')
