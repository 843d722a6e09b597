"""Operator logging: one line per event, UTC timestamps, symbol first, secrets redacted.

Messages name the symbol first by convention (``"%s: Futures symbol not found ..."``).
The ``SecretRedactingFilter`` sits on every handler, so no record reaches a sink
before its message, arguments and traceback have been scrubbed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

REDACTED = "***"

# key=value, "key": "value" and Authorization-style headers whose value is a credential.
_KEYED_SECRET = re.compile(
    r"""(?ix)
    (?P<key>["']?(?:api[_-]?key|api[_-]?secret|secret|apikey|authent|signature|password|token|nonce-sig)["']?
       \s*[:=]\s*["']?)
    (?P<value>[^\s"',}]{4,})""")


class SecretRedactingFilter(logging.Filter):
    """Replace known secret values, and values of credential-like keys, with ``***``.

    Known secrets shorter than 4 characters are ignored (they would redact ordinary words).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _KEYED_SECRET.sub(lambda m: m.group("key") + REDACTED, text)

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


def setup_logging(level: str = "INFO", *, file: Path | None = None, secrets: Iterable[str] = ()) -> None:
    """Configure the root logger for operators; idempotent (replaces earlier handlers)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    redactor = SecretRedactingFilter(secrets)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    for handler in handlers:
        handler.addFilter(redactor)
        handler.setFormatter(OperatorFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "ccxt.base.exchange", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
