"""users.language: the web admin language a user chose (zh_CN / en; NULL = the browser's)

Revision ID: 0006_console
Revises: 0005_ivr_utc
Create Date: 2026-11-30 01:50:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_console'
down_revision = '0005_ivr_utc'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('language')
