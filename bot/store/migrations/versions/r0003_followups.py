"""Follow-ups, "tell me when it's live" (`mxbot_followup`).

A database that ran the follow-ups before they were migrated (their table made by `create_all`)
already has the table: it is adopted as it is, as the baseline adopts the older tables.

Revision ID: 0003_followups
Revises: 0002_alerts_history
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_followups"
down_revision = "0002_alerts_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "mxbot_followup" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "mxbot_followup",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("records", sa.Text, nullable=False),
        sa.Column("serial", sa.Integer, nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("active_key", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_look_at", sa.DateTime(), nullable=False),
        sa.Column("give_up_at", sa.DateTime(), nullable=False),
        sa.Column("looks", sa.Integer, nullable=False),
        sa.Column("last", sa.Text, nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", sa.String(32), nullable=False),
        sa.Column("post_key", sa.String(200), nullable=False),
    )
    op.create_index("ix_mxbot_followup_due", "mxbot_followup", ["state", "next_look_at"])
    op.create_index(
        "ix_mxbot_followup_channel", "mxbot_followup", ["team_id", "channel_id", "state"]
    )


def downgrade() -> None:
    op.drop_table("mxbot_followup")
