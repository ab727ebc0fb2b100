"""IVR stored times are timezone-aware UTC (DateTime(timezone=True)); existing naive values were UTC

Revision ID: 0005_ivr_utc
Revises: 0004
Create Date: 2026-11-30 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_ivr_utc'
down_revision = '0004'
branch_labels = None
depends_on = None

# table -> (column, nullable) of every IVR time column
COLUMNS = {
    'ivr_flows': [('created_at', False)],
    'ivr_prompts': [('updated_at', False)],
    'ivr_voicemail_messages': [('created_at', False)],
    'ivr_survey_scores': [('created_at', False)],
    'ivr_campaigns': [('created_at', False), ('finished_at', True)],
    'ivr_campaign_numbers': [('retry_at', True), ('updated_at', False)],
}


def _alter(aware):
    old, new = (sa.DateTime(), sa.DateTime(timezone=True)) if aware else (sa.DateTime(timezone=True), sa.DateTime())
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, nullable in columns:
                # PostgreSQL: the naive values are UTC (and back: the UTC wall time)
                using = f"{column} AT TIME ZONE 'UTC'"
                batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=nullable,
                                      postgresql_using=using)


def upgrade():
    _alter(aware=True)


def downgrade():
    _alter(aware=False)
