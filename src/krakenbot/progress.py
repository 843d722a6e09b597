"""A progress bar with ETA for long runs (backtests, sweeps), silent where it would flood logs.

The bar is drawn on stderr with ``rich.progress`` only when stderr is a terminal and the environment
does not say CI (``CI`` set to anything but '', '0', 'false', 'no'); otherwise it counts silently.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def should_show(env: Mapping[str, str] | None = None, *, is_tty: bool | None = None) -> bool:
    """True when a live bar is wanted: a terminal on stderr and not in CI."""
    env = os.environ if env is None else env
    in_ci = env.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    tty = sys.stderr.isatty() if is_tty is None else is_tty
    return tty and not in_ci


class ProgressHandle:
    """What ``progress_bar`` yields: call ``advance(n)`` as work is done; ``completed`` counts it."""

    __slots__ = ("_progress", "_task", "completed", "total")

    def __init__(self, total: int, progress: Progress | None, task: TaskID | None) -> None:
        self.total = total
        self.completed = 0
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more units done."""
        self.completed += n
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool = True) -> Iterator[ProgressHandle]:
    """A context manager yielding a ProgressHandle; draws a bar with ETA if ``enabled`` and ``should_show()``."""
    if not (enabled and should_show()):
        yield ProgressHandle(total, None, None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield ProgressHandle(total, progress, task)
