"""Opening the store's database: engine settings per backend, Alembic migrations, error translation.

SQLite (the default) runs in WAL mode with ``synchronous=FULL`` (a committed intent survives
a power cut) and a busy timeout: readers never block the writer, and a second writer waits
up to the timeout and then fails with ``StoreError``. Write transactions start with
``BEGIN IMMEDIATE`` so they take the write lock up front instead of failing half-way.
PostgreSQL is reached by URL (``postgresql+psycopg://user@host:port/db``) with pre-ping.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from krakenbot.domain.errors import STORE_WRITE_ADVICE, StoreError, StoreWriteError
from krakenbot.files import private_file

log = logging.getLogger(__name__)

SCRIPT_LOCATION = "krakenbot.store:migrations"
_WRITE = "krakenbot_write"


def safe_url(url: str | URL) -> str:
    """``url`` with any password masked, for messages and logs."""
    return sa.make_url(url).render_as_string(hide_password=True)


def json_default(value: object) -> Any:
    """JSON for the values plans carry: Decimal and enums as text, datetimes as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON: {value!r}")


def to_json(value: object) -> Any:
    """``value`` as plain JSON types; ``ValueError`` for NaN or infinity, ``TypeError`` for the unknown."""
    return json.loads(json.dumps(value, default=json_default, allow_nan=False))


def create_store_engine(url: str, *, busy_timeout_s: float = 5.0) -> Engine:
    """An engine for ``url`` with Krakenbot's settings; raises ``StoreError`` for an unusable URL."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"store URL {url!r} is not a SQLAlchemy URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_s)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True, json_serializer=_dumps)
    raise StoreError(f"store URL {safe_url(parsed)}: only sqlite:/// and postgresql+psycopg:// are supported")


def _dumps(value: object) -> str:
    return json.dumps(value, default=json_default, allow_nan=False)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    database = url.database
    if database in (None, "", ":memory:"):
        return None
    if url.query.get("uri") == "true" and database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
        if database in ("", ":memory:"):
            return None
    return Path(database).expanduser()


def resolved_sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL with symlinks, ``~`` and ``./`` resolved (relative paths against the
    working directory): one file has one name, whatever the spelling. None for an in-memory database."""
    path = sqlite_path(url)
    return path.resolve() if path is not None else None


def store_lock_identity(url: str | URL) -> str | None:
    """What the single-instance lock of the store at ``url`` is keyed on: the same for every spelling
    of the same data, different for different data. None for an in-memory SQLite database (nothing shared).

    SQLite: the resolved database file. PostgreSQL: the database name and the ``search_path`` set through
    ``options`` (the only connection option that changes which tables are seen); the driver, user, password,
    ``connect_timeout``, ``application_name``, ``sslmode`` and other options are left out, and so are host and
    port: the server scopes an advisory lock to itself, so ``localhost`` and ``127.0.0.1`` must not split it.
    Raises ``StoreError`` for a URL that is not a SQLAlchemy URL.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"store URL is not a SQLAlchemy URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        path = resolved_sqlite_path(parsed)
        return f"sqlite:{path}" if path is not None else None
    search_path = _search_path(parsed.query.get("options"))
    ident = f"{parsed.get_backend_name()}:{parsed.database or ''}"
    return f"{ident}?search_path={search_path}" if search_path else ident


def _search_path(options: str | tuple[str, ...] | None) -> str | None:
    """The ``search_path`` a libpq ``options`` string sets (``-c search_path=a,b``, ``-csearch_path=a``,
    ``--search_path=a``), normalised: no spaces, unquoted names lower-cased. The last setting wins."""
    if options is None:
        return None
    tokens = (" ".join(options) if isinstance(options, tuple) else options).split()
    found: str | None = None
    for i, token in enumerate(tokens):
        setting = token
        if token == "-c" and i + 1 < len(tokens):
            setting = tokens[i + 1]
        elif token.startswith(("-c", "--")):
            setting = token[2:]
        name, sep, value = setting.partition("=")
        if sep and name.strip().lower().replace("-", "_") == "search_path":
            found = value
    if found is None:
        return None
    names = [n.strip() for n in found.split(",") if n.strip()]
    return ",".join(n if n.startswith('"') else n.lower() for n in names)


def _sqlite_engine(url: URL, busy_timeout_s: float) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s}, json_serializer=_dumps)
    busy_ms = int(busy_timeout_s * 1000)
    path = sqlite_path(url)
    in_memory = path is None
    if path is not None:
        # SQLite gives its -wal and -shm files the database file's mode: create that one 0600.
        with translate_errors_os(url):
            private_file(path)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


@contextmanager
def translate_errors_os(url: str | URL) -> Iterator[None]:
    """Turn an ``OSError`` creating the database file into ``StoreError``."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"store {safe_url(url)}: cannot create the database file: {exc}") from exc


_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file", "disk full")


def is_disk_full(error: BaseException) -> bool:
    """True when ``error`` (a driver error, or a ``StoreError`` caused by one) says the disk or database is
    full: SQLite's SQLITE_FULL, PostgreSQL's disk_full (SQLSTATE 53100), or ENOSPC."""
    seen: BaseException | None = error
    for _ in range(8):  # a bounded walk down the cause chain
        if seen is None:
            return False
        if getattr(seen, "sqlite_errorcode", None) == 13 or getattr(seen, "sqlstate", None) == "53100":
            return True
        if any(mark in str(seen).lower() for mark in _DISK_FULL):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


@contextmanager
def translate_errors(what: str, url: str | URL) -> Iterator[None]:
    """Turn any SQLAlchemy/driver error inside the block into ``StoreError`` naming ``what`` and the store;
    ``StoreWriteError`` (with what to do) when the disk or database is full."""
    try:
        yield
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        message = f"store {safe_url(url)}: {what} failed ({type(orig).__name__}: {detail})"
        if is_disk_full(exc):
            raise StoreWriteError(f"{message}; {STORE_WRITE_ADVICE}") from exc
        raise StoreError(message) from exc


@contextmanager
def write_transaction(engine: Engine, what: str) -> Iterator[Connection]:
    """A connection in a write transaction: committed when the block ends, rolled back on any error.

    Raises ``StoreError`` when the database fails (the transaction is rolled back first).
    """
    with translate_errors(what, engine.url), engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine, what: str) -> Iterator[Connection]:
    """A connection in a read transaction (one consistent snapshot); raises ``StoreError`` on failure."""
    with translate_errors(what, engine.url), engine.connect() as conn, conn.begin():
        yield conn


def alembic_config() -> Config:
    """The Alembic configuration of the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return cfg


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a migration
        raise StoreError("no store migrations found in the package")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with read_transaction(engine, "reading the schema revision") as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` in one transaction; raises ``StoreError`` on failure."""
    cfg = alembic_config()
    with write_transaction(engine, f"migrating to {revision}") as conn:
        cfg.attributes["connection"] = conn
        before = MigrationContext.configure(conn).get_current_revision()
        try:
            command.upgrade(cfg, revision)
        except CommandError as exc:  # e.g. a database written by a newer Krakenbot
            raise StoreError(f"store {safe_url(engine.url)}: cannot migrate from revision {before} to "
                             f"{revision}: {exc}; is this database from a newer Krakenbot?") from exc
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("store %s: schema migrated %s -> %s", safe_url(engine.url), before or "empty", after)
