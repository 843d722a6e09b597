"""The store tests run on both backends: SQLite always; PostgreSQL at ``KRAKENBOT_TEST_PG_URL``.

Each test gets a clean database: a fresh SQLite file, or a fresh PostgreSQL schema (dropped
afterwards) selected through the URL's ``options=-csearch_path=...``. With ``CI=true`` a
missing PostgreSQL URL fails the PostgreSQL half instead of skipping it (``.ci/run`` starts one).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from krakenbot.store.sql import SqlStore

PG_URL_ENV = "KRAKENBOT_TEST_PG_URL"


def postgres_base_url() -> str:
    """The test PostgreSQL URL; fails under CI, skips elsewhere, when it is not set."""
    url = os.environ.get(PG_URL_ENV, "").strip()
    if not url:
        message = f"{PG_URL_ENV} is not set: no PostgreSQL to run the store tests against (.ci/run starts one)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'krakenbot.db'}"
        return
    base = postgres_base_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An open store at head on an empty database of each backend."""
    opened = SqlStore(store_url)
    try:
        yield opened
    finally:
        opened.close()
