"""One live bot per Kraken account and instance id: an exclusive lock keyed by the account, not the store.

The store lock (``store.lock``) stops two processes sharing one store; it cannot see the same config
started from two working directories, or with two stores. This lock is keyed by a fingerprint of the
Kraken Futures API key (``account_fingerprint``: never the key itself) and ``store.instance_id``: an
exclusive ``flock`` on ``<state_dir>/locks/account-<fingerprint>-<instance_id>.lock`` (0600, its
directories 0700), holding the PID. The OS releases it when the process dies, even by SIGKILL.
``state_dir()`` is per user (``$KRAKENBOT_STATE_DIR``, ``$XDG_STATE_HOME/krakenbot`` or
``~/.local/state/krakenbot``): two users on one machine, or two machines, are not seen; Kraken itself
has no lock, which is why the running loop also watches the account (``live.account_watch``).
Paper mode has no keys and takes no account lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType

from krakenbot.config import AppConfig, Secrets
from krakenbot.config.paths import state_dir
from krakenbot.domain.errors import StoreError
from krakenbot.store.lock import lock_file, unlock_file

log = logging.getLogger(__name__)


def account_fingerprint(api_key: str) -> str:
    """16 hex digits that name the account of ``api_key`` in messages and lock files; the key cannot be
    recovered from them (blake2b)."""
    return hashlib.blake2b(api_key.strip().encode(), digest_size=8, person=b"krakenbot-acct").hexdigest()


class AccountLock:
    """A held account lock; ``release()`` (or leaving the ``with`` block) lets it go."""

    def __init__(self, fingerprint: str, instance_id: str, path: Path, fd: int) -> None:
        self.fingerprint = fingerprint
        self.instance_id = instance_id
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let the lock go (idempotent)."""
        if self._fd is not None:
            unlock_file(self._fd)
            self._fd = None

    def __enter__(self) -> AccountLock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def acquire_account_lock(api_key: str, instance_id: str, *, directory: Path | None = None) -> AccountLock:
    """Take the lock of the account of ``api_key`` for ``instance_id`` in ``directory`` (default:
    ``state_dir() / "locks"``).

    Raises ``InstanceLockedError`` (exit code 2 at start) naming the holder's PID and the account's
    fingerprint when another process holds it, ``StoreError`` when the lock file cannot be made.
    """
    fingerprint = account_fingerprint(api_key)
    path = (directory or state_dir() / "locks") / f"account-{fingerprint}-{instance_id}.lock"

    def held(pid: str | None) -> str:
        who = f"another Krakenbot instance (pid {pid})" if pid else "another Krakenbot instance"
        return (f"{who} is trading Kraken account {fingerprint} with instance id {instance_id!r} "
                f"(lock {path}); stop it first, or give this bot its own store.instance_id")

    try:
        fd = lock_file(path, held)
    except OSError as exc:
        raise StoreError(f"cannot take the account lock {path}: {exc}") from exc
    log.info("account %s, instance id %r: account lock taken (pid %d)", fingerprint, instance_id, os.getpid())
    return AccountLock(fingerprint, instance_id, path, fd)


def account_lock_for(cfg: AppConfig, *, paper: bool) -> AbstractContextManager[AccountLock | None]:
    """The account lock a run of ``cfg`` holds: none for paper (no keys) or without a futures key (the
    run then refuses on the missing key); else ``acquire_account_lock`` (raises as it does)."""
    key = Secrets().kraken_futures_api_key
    if paper or key is None or not key.get_secret_value().strip():
        return nullcontext()
    return acquire_account_lock(key.get_secret_value(), cfg.store.instance_id)
