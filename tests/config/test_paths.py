"""Paths written in a config file are relative to the file, not to the working directory."""

from pathlib import Path

import pytest

from krakenbot.config import load_config
from krakenbot.config.paths import (
    DEFAULT_CONFIG_PATH,
    DEMO_DATA_DIR,
    data_dir,
    default_store_url,
    sqlite_url_under,
    state_dir,
)


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A config folder, and a different working directory."""
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return conf_dir


def test_relative_paths_in_a_file_are_relative_to_its_folder(elsewhere):
    path = elsewhere / "my.yaml"
    path.write_text("backtest: {data: candles, out: out/run}\nstore: {url: 'sqlite:///state/k.db'}\n"
                    "logging: {file: logs/k.log}\nops: {api: {tls_certfile: tls/c.pem, tls_keyfile: tls/k.pem}}\n")
    cfg = load_config(path)
    base = elsewhere.resolve()
    assert (cfg.ops.api.tls_certfile, cfg.ops.api.tls_keyfile) == (base / "tls" / "c.pem", base / "tls" / "k.pem")
    assert cfg.backtest.data == base / "candles"
    assert cfg.backtest.out == base / "out" / "run"
    assert cfg.store.url == f"sqlite:///{base / 'state' / 'k.db'}"
    assert cfg.logging.file == base / "logs" / "k.log"


def test_absolute_paths_in_a_file_stay(elsewhere, tmp_path):
    path = elsewhere / "my.yaml"
    path.write_text(f"backtest: {{data: {tmp_path / 'd'}, out: {tmp_path / 'o'}}}\n"
                    f"store: {{url: 'sqlite:///{tmp_path / 'k.db'}'}}\nlogging: {{file: {tmp_path / 'k.log'}}}\n")
    cfg = load_config(path)
    assert (cfg.backtest.data, cfg.backtest.out) == (tmp_path / "d", tmp_path / "o")
    assert cfg.store.url == f"sqlite:///{tmp_path / 'k.db'}"
    assert cfg.logging.file == tmp_path / "k.log"


def test_keys_left_out_keep_their_defaults_and_the_store_goes_to_the_user_data_dir(elsewhere, tmp_path, monkeypatch):
    monkeypatch.setenv("KRAKENBOT_DATA_DIR", str(tmp_path / "data"))
    path = elsewhere / "empty.yaml"
    path.write_text("")
    cfg = load_config(path)
    assert cfg.backtest.data is None  # the CLI reads the shipped demo
    assert cfg.backtest.out == Path("reports/latest")
    assert cfg.store.url == f"sqlite:///{tmp_path / 'data' / 'krakenbot.db'}"  # not the working directory's
    assert cfg.logging.file is None


def test_the_default_store_is_the_same_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("KRAKENBOT_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    urls = set()
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        urls.add(load_config(DEFAULT_CONFIG_PATH).store.url)
    assert urls == {f"sqlite:///{tmp_path / 'home' / '.local' / 'share' / 'krakenbot' / 'krakenbot.db'}"}


def test_user_dirs_follow_the_override_then_xdg_then_home():
    assert data_dir({"KRAKENBOT_DATA_DIR": "/srv/kb", "XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/srv/kb")
    assert data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/krakenbot")
    assert data_dir({"XDG_DATA_HOME": "relative", "HOME": "/h"}) == Path("/h/.local/share/krakenbot")
    assert data_dir({"HOME": "/h"}) == Path("/h/.local/share/krakenbot")
    assert state_dir({"KRAKENBOT_STATE_DIR": "/run/kb"}) == Path("/run/kb")
    assert state_dir({"XDG_STATE_HOME": "/s", "HOME": "/h"}) == Path("/s/krakenbot")
    assert state_dir({"HOME": "/h"}) == Path("/h/.local/state/krakenbot")
    assert default_store_url({"HOME": "/h"}) == "sqlite:////h/.local/share/krakenbot/krakenbot.db"


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:///file:k.db?mode=ro&uri=true", "sqlite:///",
                                 "postgresql+psycopg://u@h/db", "sqlite:////abs/k.db"])
def test_sqlite_url_under_leaves_non_relative_urls_alone(url):
    assert sqlite_url_under(Path("/base"), url) == url


def test_embedded_default_reads_the_shipped_demo_from_any_directory(elsewhere, tmp_path, monkeypatch):
    monkeypatch.setenv("KRAKENBOT_DATA_DIR", str(tmp_path / "data"))
    cfg = load_config(DEFAULT_CONFIG_PATH)
    assert cfg.backtest.data == DEMO_DATA_DIR.resolve()
    assert sorted(p.name for p in DEMO_DATA_DIR.glob("*-1m.parquet"))[:2] == ["ADA-USD-1m.parquet",
                                                                              "BTC-USD-1m.parquet"]
    # outputs are left to the working directory (the store to the user's data directory), never in the package
    assert cfg.backtest.out == Path("reports/latest")
    assert cfg.store.url == f"sqlite:///{tmp_path / 'data' / 'krakenbot.db'}"
