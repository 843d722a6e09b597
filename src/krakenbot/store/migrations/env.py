"""Alembic environment: run programmatically by ``krakenbot.store.engine.migrate`` on a connection it passes in.

From the command line: ``alembic -x url=sqlite:///krakenbot.db upgrade head`` with
``script_location = krakenbot.store:migrations``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from krakenbot.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # command line: build an engine from -x url=...
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("alembic: pass the store URL with -x url=sqlite:///krakenbot.db")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
