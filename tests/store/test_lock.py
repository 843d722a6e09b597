"""The single-instance lock, across real processes, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from krakenbot.domain.errors import FatalError, StoreError
from krakenbot.store.lock import InstanceLockedError, acquire_instance_lock

_TRY = """
import sys
from krakenbot.store.lock import InstanceLockedError, acquire_instance_lock
try:
    lock = acquire_instance_lock(sys.argv[1])
except InstanceLockedError as exc:
    print("LOCKED", exc, flush=True)
    sys.exit(3)
print("HELD", flush=True)
sys.stdin.readline()  # hold the lock until the test says so (or kills us)
lock.release()
"""


@contextmanager
def _holder(url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock on ``url`` until its stdin closes or it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", _TRY, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "HELD"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def _try_in_another_process(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _TRY, url], input="\n", capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.slow
def test_second_process_is_refused_while_the_lock_is_held_and_gets_it_after_release(store_url: str) -> None:
    lock = acquire_instance_lock(store_url)
    try:
        assert lock.held
        refused = _try_in_another_process(store_url)
        assert refused.returncode == 3, refused.stderr
        assert f"another Krakenbot instance (pid {os.getpid()}) holds the store" in refused.stdout
        assert "stop it first" in refused.stdout
    finally:
        lock.release()
    assert not lock.held
    granted = _try_in_another_process(store_url)
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.startswith("HELD")


@pytest.mark.slow
def test_lock_held_by_another_process_names_its_pid_and_is_fatal(store_url: str) -> None:
    with _holder(store_url) as holder:
        with pytest.raises(InstanceLockedError, match=rf"\(pid {holder.pid}\) holds the store") as err:
            acquire_instance_lock(store_url)
        assert isinstance(err.value, StoreError)
        assert isinstance(err.value, FatalError)


@pytest.mark.slow
def test_lock_of_a_killed_holder_is_released_by_the_os_or_server(store_url: str) -> None:
    with _holder(store_url) as holder:
        holder.kill()  # SIGKILL: no cleanup code runs
        holder.wait(timeout=30)
    with acquire_instance_lock(store_url, wait_s=10) as lock:  # PostgreSQL ends the dead session a moment later
        assert lock.held


def test_waiting_for_a_held_lock_gives_up_after_wait_s(store_url: str) -> None:
    with acquire_instance_lock(store_url), pytest.raises(InstanceLockedError):
        acquire_instance_lock(store_url, wait_s=0.2)


def test_lock_is_a_context_manager_and_release_is_idempotent(store_url: str) -> None:
    with acquire_instance_lock(store_url) as lock:
        assert lock.held
    lock.release()
    assert not lock.held
    with acquire_instance_lock(store_url) as again:
        assert again.held


def test_sqlite_lock_file_sits_next_to_the_database_and_holds_our_pid(tmp_path: Path) -> None:
    with acquire_instance_lock(f"sqlite:///{tmp_path}/krakenbot.db") as lock:
        assert lock.path == tmp_path / "krakenbot.db.lock"
        assert lock.path.read_text().strip() == str(os.getpid())


def test_in_memory_sqlite_lock_is_always_granted() -> None:
    with acquire_instance_lock("sqlite://") as first, acquire_instance_lock("sqlite://") as second:
        assert first.path is None
        assert second.path is None
