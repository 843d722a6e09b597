"""Where the shipped defaults live, and how paths written in a config file are read.

The embedded default config and the demo candles ship inside the package (``krakenbot/defaults/``), so
``krakenbot backtest`` works from any directory. A relative path written in a config file is relative
to that file's folder, not to the working directory; absolute paths stay. Keys left out of a file keep
their defaults: the shipped demo data, the report folder in the working directory, and the SQLite store in
the per-user data directory (``data_dir()``), so the same config finds the same store from any directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from krakenbot.config.models import AppConfig

DEFAULTS_DIR = Path(str(files("krakenbot").joinpath("defaults")))
DEFAULT_CONFIG_PATH = DEFAULTS_DIR / "default.yaml"
DEMO_DATA_DIR = DEFAULTS_DIR / "demo"

_SQLITE = "sqlite:///"
DEFAULT_STORE_URL = "sqlite:///krakenbot.db"  # StoreConfig.url's default: anchored in data_dir() by anchor_paths
DATA_DIR_ENV, STATE_DIR_ENV = "KRAKENBOT_DATA_DIR", "KRAKENBOT_STATE_DIR"


def _xdg(env: Mapping[str, str], override: str, xdg: str, fallback: str) -> Path:
    if env.get(override, "").strip():
        return Path(env[override].strip()).expanduser().absolute()
    base = env.get(xdg, "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path(env.get("HOME") or Path.home()) / fallback
    return root / "krakenbot"


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Per-user data directory (the default store): ``$KRAKENBOT_DATA_DIR``, else ``$XDG_DATA_HOME/krakenbot``,
    else ``~/.local/share/krakenbot``."""
    return _xdg(env, DATA_DIR_ENV, "XDG_DATA_HOME", ".local/share")


def state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Per-user state directory (the account locks): ``$KRAKENBOT_STATE_DIR``, else
    ``$XDG_STATE_HOME/krakenbot``, else ``~/.local/state/krakenbot``."""
    return _xdg(env, STATE_DIR_ENV, "XDG_STATE_HOME", ".local/state")


def default_store_url(env: Mapping[str, str] = os.environ) -> str:
    """The store used when ``store.url`` is left out: ``krakenbot.db`` in ``data_dir()``."""
    return _SQLITE + str(data_dir(env) / "krakenbot.db")


def _under(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def sqlite_url_under(base: Path, url: str) -> str:
    """``sqlite:///relative.db`` made absolute under ``base``; other URLs (absolute paths, ``file:`` URIs,
    ``:memory:``, PostgreSQL) unchanged."""
    if not url.startswith(_SQLITE):
        return url
    rest = url.removeprefix(_SQLITE)
    if not rest or rest.startswith((":memory:", "file:", "/")) or Path(rest).is_absolute():
        return url
    return _SQLITE + str(base / rest)


def anchor_paths(cfg: AppConfig, base: Path, env: Mapping[str, str] = os.environ) -> AppConfig:
    """Resolve the relative paths *written* in a config file against ``base`` (the file's folder).

    Only keys present in the file move (``model_fields_set``); defaults are left as they are, except
    ``store.url``, which goes to ``default_store_url(env)`` (a store that does not depend on the working directory).
    """
    base = base.resolve()
    backtest, store, logging = cfg.backtest, cfg.store, cfg.logging
    set_bt, set_store, set_log = backtest.model_fields_set, store.model_fields_set, logging.model_fields_set
    bt_update: dict[str, Path] = {}
    if "data" in set_bt and backtest.data is not None:
        bt_update["data"] = _under(base, backtest.data)
    if "out" in set_bt:
        bt_update["out"] = _under(base, backtest.out)
    update: dict[str, object] = {}
    if bt_update:
        update["backtest"] = backtest.model_copy(update=bt_update)
    store_update: dict[str, str] = {}
    if "url" in set_store:
        store_update["url"] = sqlite_url_under(base, store.url)
    elif store.url == DEFAULT_STORE_URL:
        store_update["url"] = default_store_url(env)
    if "paper_url" in set_store and store.paper_url is not None:
        store_update["paper_url"] = sqlite_url_under(base, store.paper_url)
    if store_update:
        update["store"] = store.model_copy(update=store_update)
    if "file" in set_log and logging.file is not None:
        update["logging"] = logging.model_copy(update={"file": _under(base, logging.file)})
    api = cfg.ops.api
    tls: dict[str, Path] = {name: _under(base, path) for name in ("tls_certfile", "tls_keyfile")
           if name in api.model_fields_set and (path := getattr(api, name)) is not None}
    if tls:
        update["ops"] = cfg.ops.model_copy(update={"api": api.model_copy(update=tls)})
    return cfg.model_copy(update=update) if update else cfg
