"""Where studies live: Optuna's RDB storage in the project's database, in tables of its own.

The trading store and Optuna both version their tables with Alembic (one ``alembic_version`` table per
schema), so they cannot share a schema: studies go to a SQLite file beside the store's, or to a schema of
the store's PostgreSQL database.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from krakenbot.domain.errors import ConfigError

STUDIES_SCHEMA = "krakenbot_studies"


def study_storage_url(store_url: str) -> str:
    """Where studies live, from the project's store URL: a SQLite file gets a ``-studies`` suffix
    (``krakenbot.db`` -> ``krakenbot-studies.db``); a PostgreSQL URL keeps its database and selects the schema
    ``krakenbot_studies`` (``open_storage`` creates it)."""
    url, sep, query = store_url.partition("?")
    if url.startswith("sqlite:"):
        if url in ("sqlite://", "sqlite:///:memory:") or url.endswith("/:memory:"):
            raise ConfigError(f"store.url: {store_url} is in memory; a study needs a file: pass --storage")
        stem, dot, ext = url.rpartition(".")
        return (f"{stem}-studies.{ext}" if dot and "/" not in ext else f"{url}-studies") + sep + query
    parsed = sa.make_url(store_url)
    if "options" in parsed.query:
        return store_url  # the URL chooses its own search_path: used as it is
    return parsed.update_query_dict({"options": f"-csearch_path={STUDIES_SCHEMA}"}).render_as_string(
        hide_password=False)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at ``url`` (its tables created on first use). A PostgreSQL URL whose search_path
    names a schema gets the schema created if missing. Raises ConfigError naming the URL when the database
    already holds the trading store (Alembic tables of another kind)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        options = str(parsed.query.get("options", ""))
        if "search_path=" in options:
            schema = options.split("search_path=", 1)[1].split(maxsplit=1)[0].split(",", maxsplit=1)[0]
            bare = parsed.difference_update_query(["options"])
            engine = sa.create_engine(bare, poolclass=NullPool, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            finally:
                engine.dispose()
    elif parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"poolclass": NullPool})
    except (RuntimeError, ValueError) as exc:  # e.g. the trading store's alembic_version table
        raise ConfigError(f"--storage {sa.make_url(url).render_as_string(hide_password=True)}: not an Optuna "
                          f"study database ({exc}); point it at a database (or schema) of its own") from exc
