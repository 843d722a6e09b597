"""The store lock's key: one key per database (and search_path) or SQLite file, however the URL spells it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from krakenbot.store.engine import store_lock_identity
from krakenbot.store.lock import InstanceLockedError, acquire_instance_lock, advisory_lock_key

PG = "postgresql+psycopg://bot:secret@db.example.com/krakenbot"


@pytest.mark.parametrize("spelling", [
    "postgresql+psycopg://bot:secret@db.example.com/krakenbot?connect_timeout=10",
    "postgresql+psycopg://bot:secret@db.example.com/krakenbot?application_name=other",
    "postgresql+psycopg://bot:secret@db.example.com/krakenbot?sslmode=require",
    "postgresql+psycopg://bot:secret@DB.Example.COM/krakenbot",
    "postgresql+psycopg://bot:secret@db.example.com:5432/krakenbot",
    "postgresql://bot:secret@db.example.com/krakenbot",
    "postgresql://other@127.0.0.1:5432/krakenbot?connect_timeout=3&sslmode=disable",
    "postgresql+psycopg://bot:secret@db.example.com/krakenbot?options=-c%20statement_timeout%3D5s",
])
def test_advisory_key_is_the_same_for_every_spelling_of_one_database(spelling: str) -> None:
    assert store_lock_identity(spelling) == store_lock_identity(PG)
    assert advisory_lock_key(spelling) == advisory_lock_key(PG)


@pytest.mark.parametrize("spelling", [
    PG + "?options=-csearch_path%3Dbots",
    PG + "?options=-c%20search_path%3Dbots",
    PG + "?options=--search_path%3Dbots",
    PG + "?options=-c%20search_path%3DBOTS%20-c%20statement_timeout%3D5s",
    "postgresql://x@localhost/krakenbot?options=-csearch_path%3Dbots&connect_timeout=10",
])
def test_search_path_is_part_of_the_key_whatever_its_spelling(spelling: str) -> None:
    assert store_lock_identity(spelling) == "postgresql:krakenbot?search_path=bots"
    assert advisory_lock_key(spelling) != advisory_lock_key(PG)


def test_different_databases_or_search_paths_have_different_keys() -> None:
    keys = {advisory_lock_key(url) for url in (
        PG, "postgresql+psycopg://bot@db.example.com/other", PG + "?options=-csearch_path%3Da",
        PG + "?options=-csearch_path%3Db", PG + "?options=-csearch_path%3Da,b")}
    assert len(keys) == 5
    assert all(-2**63 <= k < 2**63 for k in keys)


def test_sqlite_identity_resolves_relative_paths_and_symlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    (tmp_path / "data" / "x.db").touch()
    (tmp_path / "alias.db").symlink_to(tmp_path / "data" / "x.db")
    want = f"sqlite:{(tmp_path / 'data' / 'x.db').resolve()}"
    for spelling in ("sqlite:///data/x.db", "sqlite:///./data/x.db", f"sqlite:///{tmp_path}/data/x.db",
                     "sqlite:///link/x.db", f"sqlite:///{tmp_path}/link/../data/x.db", "sqlite:///alias.db"):
        assert store_lock_identity(spelling) == want, spelling
    assert store_lock_identity("sqlite://") is None
    assert store_lock_identity("sqlite:///:memory:") is None


def test_sqlite_lock_of_a_symlinked_or_relative_spelling_is_refused_while_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    (tmp_path / "data" / "x.db").touch()
    (tmp_path / "alias.db").symlink_to(tmp_path / "data" / "x.db")  # a second name for the database file
    with acquire_instance_lock("sqlite:///data/x.db") as lock:
        assert lock.path == (tmp_path / "data" / "x.db.lock").resolve()
        for spelling in ("sqlite:///./data/x.db", "sqlite:///link/x.db", f"sqlite:///{tmp_path}/data/x.db",
                         "sqlite:///alias.db"):
            with pytest.raises(InstanceLockedError, match=f"pid {os.getpid()}"):
                acquire_instance_lock(spelling)


def _respelled(url: str) -> str:
    """The same store, spelled differently: extra connection options (PostgreSQL), a ``/./`` in the path (SQLite)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        return f"sqlite:///{path.parent}/./{path.name}"
    driver = "postgresql" if parsed.drivername != "postgresql" else "postgresql+psycopg"
    return parsed.set(drivername=driver).update_query_dict(
        {"connect_timeout": "10", "application_name": "someone"}).render_as_string(hide_password=False)


def test_a_respelled_url_of_a_held_store_is_refused(store_url: str) -> None:
    with acquire_instance_lock(store_url), pytest.raises(InstanceLockedError, match="another Krakenbot instance"):
        acquire_instance_lock(_respelled(store_url))
