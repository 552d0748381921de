"""Alerts between digests (`mxbot_alert`) and record history (`mxbot_record_history`).

Revision ID: 0002_alerts_history
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_alerts_history"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mxbot_alert",
        sa.Column(
            "watch_id",
            sa.Integer,
            sa.ForeignKey("mxbot_watch.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("next_check_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_index("ix_mxbot_alert_due", "mxbot_alert", ["next_check_at"])
    op.create_table(
        "mxbot_record_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_mxbot_record_history_key",
        "mxbot_record_history",
        ["team_id", "domain", "kind", "subject"],
    )
    op.create_index("ix_mxbot_record_history_last_seen", "mxbot_record_history", ["last_seen"])


def downgrade() -> None:
    op.drop_table("mxbot_record_history")
    op.drop_table("mxbot_alert")
