"""The account lock: one live bot per Kraken account and instance id, whatever its store or directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from krakenbot.config.models import AppConfig, StoreConfig
from krakenbot.domain.errors import FatalError
from krakenbot.live.account_lock import account_fingerprint, account_lock_for, acquire_account_lock
from krakenbot.store.lock import InstanceLockedError

KEY = "futures-api-key-0123456789abcdef"


def test_fingerprint_is_16_hex_stable_and_never_the_key() -> None:
    fp = account_fingerprint(KEY)
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp == account_fingerprint(KEY) == account_fingerprint(f" {KEY}\n")
    assert fp != account_fingerprint(KEY + "x")
    assert KEY not in fp and KEY[:8] not in fp


def test_second_lock_on_one_account_and_instance_is_refused_naming_pid_and_fingerprint(tmp_path: Path) -> None:
    with acquire_account_lock(KEY, "kb", directory=tmp_path) as lock:
        assert lock.held
        assert lock.path.read_text().strip() == str(os.getpid())
        with pytest.raises(InstanceLockedError) as err:
            acquire_account_lock(KEY, "kb", directory=tmp_path)
        message = str(err.value)
        assert f"pid {os.getpid()}" in message and account_fingerprint(KEY) in message
        assert KEY not in message
        assert isinstance(err.value, FatalError)
    assert not lock.held
    with acquire_account_lock(KEY, "kb", directory=tmp_path) as again:  # released: granted
        assert again.held


def test_other_instance_ids_or_accounts_are_not_refused(tmp_path: Path) -> None:
    with acquire_account_lock(KEY, "kb", directory=tmp_path), acquire_account_lock(KEY, "kb2", directory=tmp_path), \
            acquire_account_lock("another-key", "kb", directory=tmp_path):
        pass


def test_lock_lives_in_the_state_dir_private_and_without_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKENBOT_STATE_DIR", str(tmp_path / "state"))
    with acquire_account_lock(KEY, "kb") as lock:
        assert lock.path.parent == tmp_path / "state" / "locks"
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock.path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
        assert KEY not in str(lock.path)


def test_paper_and_keyless_runs_take_no_account_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = AppConfig(store=StoreConfig(url="sqlite://", instance_id="kb"))
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", KEY)
    with account_lock_for(cfg, paper=True) as paper, account_lock_for(cfg, paper=True) as paper2:
        assert paper is None and paper2 is None
    with account_lock_for(cfg, paper=False) as live:
        assert live is not None and live.held
        with pytest.raises(InstanceLockedError):
            account_lock_for(cfg, paper=False)
    monkeypatch.delenv("KRAKEN_FUTURES_API_KEY")
    with account_lock_for(cfg, paper=False) as keyless:
        assert keyless is None
