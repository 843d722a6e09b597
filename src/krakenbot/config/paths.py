"""Where the shipped defaults live, and how paths written in a config file are read.

The embedded default config and the demo candles ship inside the package (``krakenbot/defaults/``), so
``krakenbot backtest`` works from any directory. A relative path written in a config file is relative
to that file's folder, not to the working directory; absolute paths stay. Keys left out of a file keep
their defaults: the shipped demo data, and outputs (report folder, SQLite store) in the working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from krakenbot.config.models import AppConfig

DEFAULTS_DIR = Path(str(files("krakenbot").joinpath("defaults")))
DEFAULT_CONFIG_PATH = DEFAULTS_DIR / "default.yaml"
DEMO_DATA_DIR = DEFAULTS_DIR / "demo"

_SQLITE = "sqlite:///"


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


def anchor_paths(cfg: AppConfig, base: Path) -> AppConfig:
    """Resolve the relative paths *written* in a config file against ``base`` (the file's folder).

    Only keys present in the file move (``model_fields_set``); defaults are left as they are.
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
    store_update = {"url": sqlite_url_under(base, store.url)} if "url" in set_store else {}
    if "paper_url" in set_store and store.paper_url is not None:
        store_update["paper_url"] = sqlite_url_under(base, store.paper_url)
    if store_update:
        update["store"] = store.model_copy(update=store_update)
    if "file" in set_log and logging.file is not None:
        update["logging"] = logging.model_copy(update={"file": _under(base, logging.file)})
    return cfg.model_copy(update=update) if update else cfg
