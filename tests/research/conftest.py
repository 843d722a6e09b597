"""The study tests' Dask cluster (one LocalCluster of 2 worker processes for the session) and PostgreSQL.

PostgreSQL comes from ``KRAKENBOT_TEST_PG_URL`` as in the store tests (``.ci/run`` starts one): each test gets a
fresh schema, dropped afterwards; without the URL the test is skipped, or fails under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from distributed import Client, LocalCluster
from sqlalchemy.pool import NullPool

PG_URL_ENV = "KRAKENBOT_TEST_PG_URL"


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """A LocalCluster of 2 single-threaded worker processes (nanny-managed: a killed worker is restarted)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="session")
def client(cluster: LocalCluster) -> Iterator[Client]:
    """A client of the module's cluster."""
    with Client(cluster) as connected:
        yield connected


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL selecting a fresh schema (created by the study's storage, dropped afterwards)."""
    base = os.environ.get(PG_URL_ENV, "").strip()
    if not base:
        message = f"{PG_URL_ENV} is not set: no PostgreSQL to run the study against (.ci/run starts one)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    yield sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)
    admin = sa.create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        admin.dispose()
