"""Noticing, while running, another live process that trades this account under our instance id.

Kraken Futures has no account lock, and the account lock (``live.account_lock``) sees only processes
of this user on this machine. What Kraken does show is every order's client order id, and each run
of a bot mints its own (``{prefix}-{ms}-{run}{seq}``, ``execution.executor.ClientOrderIds``). An
open order or a fill carrying our prefix that this run did not mint, minted after this run started,
and that the store does not know, can only come from another live process: its entries and ours
would add up on the same netted positions. Its ids are disowned (``ClientOrderIds.disown``: never
counted, cancelled or recorded as ours), and from then on the loop opens nothing (entries paused until
a restart), logs one ERROR and records one ``account_shared`` event; stops, stop upkeep, closes and
ShockGuard reductions of the positions go on. Orders minted before this run started are the start-up
reconciliation's business (``live.restart``).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from datetime import datetime
from typing import Protocol, runtime_checkable

from krakenbot.domain import Clock, Order
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.timeconv import to_ms
from krakenbot.domain.vocabulary import EventKind
from krakenbot.execution.executor import ClientOrderIds
from krakenbot.execution.reconcile import UNSTORED_SUFFIX

log = logging.getLogger("krakenbot.live.trading.account")  # a child of the loop's logger: one name to watch

# What ClientOrderIds puts after the prefix: ms, run, seq (and the mark of a stop placed with the store full).
_MINTED = re.compile(r"(\d{1,15})-[0-9a-f]{6}\d+(?:" + re.escape(UNSTORED_SUFFIX) + ")?")
MAX_CHECKED = 10_000  # client order ids whose verdict is remembered (newest kept)


@runtime_checkable
class OrderLookup(Protocol):
    """A journal that can say whether it knows an order (``SqlStore``)."""

    def order(self, client_order_id: str) -> Order | None: ...


class AccountWatch:
    """Watches the client order ids the loop reads (open orders, fills) for another process's, and
    pauses entries for good once it sees one (see the module docstring)."""

    def __init__(self, ids: ClientOrderIds, prefix: str, journal: Journal, clock: Clock, *,
                 max_checked: int = MAX_CHECKED) -> None:
        self._ids = ids
        self._prefix = prefix + "-"
        self._journal = journal
        self._lookup = journal if isinstance(journal, OrderLookup) else None
        self._started_ms = to_ms(clock.now())
        self._checked: OrderedDict[str, bool] = OrderedDict()  # client order id -> another process's
        self._max_checked = max_checked
        self.paused_reason: str | None = None

    @property
    def entries_paused(self) -> bool:
        """True once another process was seen trading the account with our instance id."""
        return self.paused_reason is not None

    def saw(self, client_order_id: str | None, *, symbol: str, what: str, now: datetime) -> bool:
        """Note an ``what`` ("open order", "fill") the exchange reported with ``client_order_id`` on
        ``symbol``; True when it is another process's (the first one pauses entries)."""
        if not client_order_id or not client_order_id.startswith(self._prefix) or self._ids.is_this_runs(
                client_order_id):
            return False  # someone else's, or this run's own (the common case: nothing remembered)
        verdict = self._checked.get(client_order_id)
        if verdict is None:
            verdict = self._is_other_process(client_order_id)
            self._checked[client_order_id] = verdict
            if verdict:  # never count, cancel or record its orders as ours
                self._ids.disown(client_order_id)
            while len(self._checked) > self._max_checked:
                self._checked.popitem(last=False)
        if verdict and self.paused_reason is None:
            self.paused_reason = (f"another process is trading this account with instance id "
                                  f"{self._prefix[:-1]!r}: {what} {client_order_id} on {symbol} was not sent "
                                  "by this bot")
            log.error("%s; entries paused until this bot is restarted (stop the other process first); "
                      "stops and closes of positions continue", self.paused_reason)
            self._journal.record_event(JournalEvent(ts=now, kind=EventKind.ACCOUNT_SHARED, symbol=symbol,
                                                    detail=self.paused_reason))
        return verdict

    def _is_other_process(self, client_order_id: str) -> bool:
        minted = _MINTED.fullmatch(client_order_id[len(self._prefix):])
        if minted is None or int(minted[1]) <= self._started_ms:
            return False  # not in our id format, or older than this run: reconciled at start
        return self._lookup is None or self._lookup.order(client_order_id) is None
