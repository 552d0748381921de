"""The schema `create_all` made before migrations: mxbot's tables and slack-sdk's OAuth tables.

A frozen copy, not the models: later revisions change the schema, never this one. Each table is
created only when it is missing, so a database an earlier mxbot made with `create_all` (whatever
release, with or without the outbox and stop tables) is adopted as it is, rows and all.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

_M = sa.MetaData()
_STAMP = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _lease() -> list[sa.Column[object]]:
    return [
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
    ]


sa.Table(
    "mxbot_reports",
    _M,
    _id(),
    sa.Column("team_id", sa.String(32), nullable=False, index=True),
    sa.Column("channel_id", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("created_at", _STAMP, nullable=False, index=True),
)
sa.Table(
    "mxbot_processed_events",
    _M,
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("seen_at", _STAMP, nullable=False, index=True),
)
sa.Table(
    "mxbot_watch",
    _M,
    _id(),
    sa.Column("team_id", sa.String(32), nullable=False),
    sa.Column("channel_id", sa.String(32), nullable=False),
    sa.Column("domain", sa.String(255), nullable=False),
    sa.Column("added_by", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.UniqueConstraint("team_id", "channel_id", "domain"),
)
sa.Table(
    "mxbot_schedule",
    _M,
    _id(),
    sa.Column("team_id", sa.String(32), nullable=False),
    sa.Column("channel_id", sa.String(32), nullable=False),
    sa.Column("cadence", sa.String(8), nullable=False),
    sa.Column("time_of_day", sa.String(5), nullable=False),
    sa.Column("weekday", sa.Integer, nullable=True),
    sa.Column("next_run_at", sa.DateTime(), nullable=False),
    *_lease(),
    sa.UniqueConstraint("team_id", "channel_id"),
    sa.Index("ix_mxbot_schedule_due", "next_run_at"),
)
sa.Table(
    "mxbot_digest_run",
    _M,
    _id(),
    sa.Column(
        "schedule_id",
        sa.Integer,
        sa.ForeignKey("mxbot_schedule.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("ran_at", sa.DateTime(), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("posted", sa.Integer, nullable=False),
    sa.Column("snapshot", sa.Text, nullable=False),
)
sa.Table(
    "mxbot_outbox",
    _M,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("team_id", sa.String(32), nullable=False),
    sa.Column("channel_id", sa.String(32), nullable=False),
    sa.Column("schedule_id", sa.Integer, nullable=True),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("attempt_started_at", sa.DateTime(), nullable=True),
    sa.Column("in_doubt_since", sa.DateTime(), nullable=True),
    *_lease(),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("settled_at", sa.DateTime(), nullable=True),
    sa.Index("ix_mxbot_outbox_due", "state", "next_attempt_at"),
    sa.Index("ix_mxbot_outbox_schedule", "schedule_id", "state"),
)
sa.Table(
    "mxbot_schedule_stop",
    _M,
    sa.Column(
        "schedule_id",
        sa.Integer,
        sa.ForeignKey("mxbot_schedule.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("stopped_at", sa.DateTime(), nullable=False),
)
# slack-sdk's installation and OAuth state stores (slack_sdk.oauth.*.sqlalchemy), as of 3.33.
sa.Table(
    "slack_installations",
    _M,
    _id(),
    sa.Column("client_id", sa.String(32), nullable=False),
    sa.Column("app_id", sa.String(32), nullable=False),
    sa.Column("enterprise_id", sa.String(32)),
    sa.Column("enterprise_name", sa.String(200)),
    sa.Column("enterprise_url", sa.String(200)),
    sa.Column("team_id", sa.String(32)),
    sa.Column("team_name", sa.String(200)),
    sa.Column("bot_token", sa.String(200)),
    sa.Column("bot_id", sa.String(32)),
    sa.Column("bot_user_id", sa.String(32)),
    sa.Column("bot_scopes", sa.String(1000)),
    sa.Column("bot_refresh_token", sa.String(200)),
    sa.Column("bot_token_expires_at", sa.DateTime),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("user_token", sa.String(200)),
    sa.Column("user_scopes", sa.String(1000)),
    sa.Column("user_refresh_token", sa.String(200)),
    sa.Column("user_token_expires_at", sa.DateTime),
    sa.Column("incoming_webhook_url", sa.String(200)),
    sa.Column("incoming_webhook_channel", sa.String(200)),
    sa.Column("incoming_webhook_channel_id", sa.String(200)),
    sa.Column("incoming_webhook_configuration_url", sa.String(200)),
    sa.Column("is_enterprise_install", sa.Boolean, nullable=False),
    sa.Column("token_type", sa.String(32)),
    sa.Column("installed_at", sa.DateTime, nullable=False),
    sa.Index(
        "slack_installations_idx",
        "client_id",
        "enterprise_id",
        "team_id",
        "user_id",
        "installed_at",
    ),
)
sa.Table(
    "slack_bots",
    _M,
    _id(),
    sa.Column("client_id", sa.String(32), nullable=False),
    sa.Column("app_id", sa.String(32), nullable=False),
    sa.Column("enterprise_id", sa.String(32)),
    sa.Column("enterprise_name", sa.String(200)),
    sa.Column("team_id", sa.String(32)),
    sa.Column("team_name", sa.String(200)),
    sa.Column("bot_token", sa.String(200)),
    sa.Column("bot_id", sa.String(32)),
    sa.Column("bot_user_id", sa.String(32)),
    sa.Column("bot_scopes", sa.String(1000)),
    sa.Column("bot_refresh_token", sa.String(200)),
    sa.Column("bot_token_expires_at", sa.DateTime),
    sa.Column("is_enterprise_install", sa.Boolean, nullable=False),
    sa.Column("installed_at", sa.DateTime, nullable=False),
    sa.Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)
sa.Table(
    "slack_oauth_states",
    _M,
    _id(),
    sa.Column("state", sa.String(200), nullable=False),
    sa.Column("expire_at", sa.DateTime, nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for table in _M.sorted_tables:
        if table.name not in present:
            table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_M.sorted_tables):
        table.drop(bind, checkfirst=True)
