"""Operator logging: one line per event, UTC timestamps, symbol first, secrets redacted.

Messages name the symbol first by convention (``"%s: Futures symbol not found ..."``).
The ``SecretRedactingFilter`` sits on every handler, so no record reaches a sink
before its message, arguments and traceback have been scrubbed. ``redact`` is the one
scrubbing function: the store passes every stored message through it too. The process's
known secrets are registered once (``register_secrets``); ``protect_library_loggers`` puts
the filter on ccxt's own loggers, so an embedding application's DEBUG logging cannot print
request headers.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path

from krakenbot.files import private_file

REDACTED = "***"

# key=value, "key": "value" and Authorization-style headers whose value is a credential.
_KEYED_SECRET = re.compile(
    r"""(?ix)
    (?P<key>["']?(?:api[_-]?key|api[_-]?secret|secret|apikey|authent|signature|password|token|nonce-sig)["']?
       \s*[:=]\s*["']?)
    (?P<value>[^\s"',}]{4,})""")

_MIN_SECRET = 4
_registered: set[str] = set()


def register_secrets(secrets: Iterable[str | None]) -> None:
    """Remember the process's known secrets (API key and secret); ``redact`` replaces them everywhere."""
    _registered.update(s for s in secrets if s and len(s) >= _MIN_SECRET)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with registered (and ``extra``) secret values and credential-like ``key=value`` values as ``***``.

    Known secrets shorter than 4 characters are ignored (they would redact ordinary words).
    """
    for secret in sorted(_registered.union(s for s in extra if len(s) >= _MIN_SECRET), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _KEYED_SECRET.sub(lambda m: m.group("key") + REDACTED, text)


class SecretRedactingFilter(logging.Filter):
    """Scrub each record with ``redact`` (registered secrets, plus ``secrets`` given here)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= _MIN_SECRET)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_LIBRARY_FILTER = SecretRedactingFilter()


def protect_library_loggers(prefix: str = "ccxt") -> None:
    """Put the redaction filter on ``prefix``'s logger and every child logger known now (idempotent).

    A logger's filters see only records logged on that very logger, so each child gets its own.
    """
    names = {prefix, f"{prefix}.base.exchange", f"{prefix}.async_support.base.exchange"}
    names.update(n for n in logging.Logger.manager.loggerDict if n.startswith(prefix + "."))
    for name in sorted(names):
        logging.getLogger(name).addFilter(_LIBRARY_FILTER)


class OperatorFormatter(logging.Formatter):
    """``2026-11-24T08:11:06.123Z INFO    PF_XBTUSD: message  [logger]``: one event, one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s  [%(name)s]")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        head, sep, tail = text.partition("\n")
        if not sep:
            return text
        # Keep tracebacks, but indent them so each event still starts one line.
        return head + "\n" + "\n".join("    " + line for line in tail.splitlines())


DEFAULT_MAX_BYTES = 10_000_000  # the log file rotates at this size (bytes)
DEFAULT_BACKUP_COUNT = 5  # rotated files kept: at most (1 + this) x max_bytes on disk


class PrivateFileHandler(RotatingFileHandler):
    """A ``RotatingFileHandler`` whose file (each time it is opened, also after a rollover) is created 0600
    in a 0700 directory; rotated files keep that mode."""

    def _open(self) -> TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


def setup_logging(level: str = "INFO", *, file: Path | None = None, secrets: Iterable[str] = (),
                  max_bytes: int = DEFAULT_MAX_BYTES, backup_count: int = DEFAULT_BACKUP_COUNT) -> None:
    """Configure the root logger for operators; idempotent (replaces earlier handlers). ``file`` rotates
    when it reaches ``max_bytes`` (bytes), keeping ``backup_count`` older files (``file.1`` newest)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    register_secrets(secrets)
    redactor = SecretRedactingFilter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        handlers.append(PrivateFileHandler(file, encoding="utf-8", maxBytes=max_bytes, backupCount=backup_count))
    for handler in handlers:
        handler.addFilter(redactor)
        handler.setFormatter(OperatorFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "ccxt.base.exchange", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
