"""The commands configure the root logger (``setup_logging``); a test that runs one must leave it as it was."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

_NAMED = ("urllib3", "ccxt.base.exchange", "asyncio", "alembic")  # loggers setup_logging quiets


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """Autouse where imported (a folder's conftest.py): handlers closed or put back, levels restored."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in _NAMED}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, named_level in levels.items():
        logging.getLogger(name).setLevel(named_level)
