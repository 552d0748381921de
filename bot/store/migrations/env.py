"""Alembic's environment: run the revisions on the connection `bot.store.migrate` hands over.

That connection is already in a transaction and holds the migration lock, so Alembic opens no
transaction of its own; the caller commits.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
