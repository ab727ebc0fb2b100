"""E-mail delivery (#17): the durable SMTP outbox and per-DID fax mailboxes

Revision ID: 0006_mail
Revises: 0006_wiring
Create Date: 2026-11-30 03:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_mail'
down_revision = '0006_wiring'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mail_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recipients', sa.Text(), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('message', sa.LargeBinary(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_mail_outbox_status', 'mail_outbox', ['status'], unique=False)
    op.create_table(
        'fax_mailboxes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('did', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=400), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('did'),
    )


def downgrade():
    op.drop_table('fax_mailboxes')
    op.drop_index('ix_mail_outbox_status', table_name='mail_outbox')
    op.drop_table('mail_outbox')
