"""One Krakenbot per store: a single-instance lock keyed by the store URL.

SQLite: an exclusive OS lock (``flock``) on ``<db>.lock`` next to the database, with the
holder's PID written in it. PostgreSQL: a session-level ``pg_advisory_lock`` on a key
derived from the database and its options, held by a dedicated connection for the life of
the process (its ``application_name`` carries the PID, so a second instance can say who
holds it). The OS (or the server) releases either lock when the process dies, even by
SIGKILL, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.pool import NullPool

from krakenbot.domain.errors import StoreError
from krakenbot.files import FILE_MODE, private_dir
from krakenbot.store.engine import resolved_sqlite_path, safe_url, store_lock_identity, translate_errors

log = logging.getLogger(__name__)

_RETRY_S = 0.1


class InstanceLockedError(StoreError):
    """Another Krakenbot instance holds the store: stop it first (this one must not trade)."""


def _held_message(url: str, pid: str | None) -> str:
    who = f"another Krakenbot instance (pid {pid})" if pid else "another Krakenbot instance"
    return f"{who} holds the store {url}; stop it first"


def lock_file(path: Path, held_message: Callable[[str | None], str]) -> int:
    """Take an exclusive ``flock`` on ``path`` (created 0600, its directory 0700) and write our PID in it;
    returns the open descriptor, which holds the lock until closed. Raises ``InstanceLockedError`` with
    ``held_message(pid of the holder or None)`` when another process holds it, ``OSError`` otherwise."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or None
        os.close(fd)
        raise InstanceLockedError(held_message(pid)) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def advisory_lock_key(url: str | URL) -> int:
    """The PostgreSQL advisory lock key (signed 64 bits) of the store at ``url``: equal for every
    spelling of the same database and search_path (``store_lock_identity``)."""
    ident = f"krakenbot:{store_lock_identity(url)}"
    return int.from_bytes(hashlib.blake2b(ident.encode(), digest_size=8).digest(), "big", signed=True)


def unlock_file(fd: int) -> None:
    """Let a lock taken by ``lock_file`` go and close its descriptor."""
    os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class InstanceLock:
    """A held single-instance lock; ``release()`` (or leaving the ``with`` block) lets it go."""

    def __init__(self, url: str) -> None:
        self.url = safe_url(url)
        self._fd: int | None = None
        self._conn: Connection | None = None
        self._engine: sa.Engine | None = None
        self._key: int | None = None
        self.path: Path | None = None

    # -- SQLite ------------------------------------------------------------------------------
    def _acquire_file(self, path: Path) -> None:
        self.path = path
        self._fd = lock_file(path, lambda pid: _held_message(self.url, pid))

    # -- PostgreSQL --------------------------------------------------------------------------
    def _acquire_advisory(self, url: URL) -> None:
        # Advisory locks are per database already; the key adds the search_path (store_lock_identity).
        key = advisory_lock_key(url)
        name = f"krakenbot pid {os.getpid()}"
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        # One dedicated session, outside any transaction, for the life of the process.
        engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                  connect_args={"application_name": name})
        with translate_errors("taking the instance lock", url):
            conn = engine.connect()
            try:
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
                if not got:
                    holder = conn.execute(sa.text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                        "AND l.classid = CAST(:hi AS oid) AND l.objid = CAST(:lo AS oid)"),
                        {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}).scalar()
                    pid = holder.rsplit(" ", 1)[-1] if holder and holder.startswith("krakenbot pid ") else None
                    raise InstanceLockedError(_held_message(self.url, pid))
            except BaseException:
                conn.close()
                engine.dispose()
                raise
        self._conn, self._engine, self._key = conn, engine, key

    # -- both --------------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        """Whether this lock is still held (for PostgreSQL: its session is alive and owns the key)."""
        if self._fd is not None:
            return True
        if self._conn is None:
            return False
        try:
            return bool(self._conn.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND granted")).scalar_one())
        except sa.exc.SQLAlchemyError:
            return False

    def release(self) -> None:
        """Let the lock go (idempotent)."""
        if self._fd is not None:
            unlock_file(self._fd)
            self._fd = None
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except sa.exc.SQLAlchemyError:
                log.warning("store %s: advisory unlock failed; closing the session releases it", self.url)
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def acquire_instance_lock(url: str, *, wait_s: float = 0.0) -> InstanceLock:
    """Take the single-instance lock of the store at ``url``, retrying for up to ``wait_s`` seconds.

    Raises ``InstanceLockedError`` (a ``StoreError``, hence ``FatalError``) when another
    process still holds it, and ``StoreError`` when the lock cannot be taken at all. A short
    wait covers a restart right after a kill: PostgreSQL frees a dead session's lock a moment
    later. An in-memory SQLite store has nothing to share, so its lock is always granted.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return _acquire(url)
        except InstanceLockedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(_RETRY_S)


def _acquire(url: str) -> InstanceLock:
    parsed = sa.make_url(url)
    lock = InstanceLock(url)
    if parsed.get_backend_name() == "sqlite":
        path = resolved_sqlite_path(parsed)  # one file, one lock, however the URL spells it
        if path is None:
            return lock
        try:
            lock._acquire_file(path.with_name(path.name + ".lock"))
        except OSError as exc:
            raise StoreError(f"store {lock.url}: cannot take the instance lock {path}.lock: {exc}") from exc
    else:
        lock._acquire_advisory(parsed)
    log.info("store %s: instance lock taken (pid %d)", lock.url, os.getpid())
    return lock
