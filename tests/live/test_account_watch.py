"""AccountWatch: an id with our prefix that this run did not mint, minted after it started and unknown to
the store, is another process's: entries pause once, with one ERROR and one event."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from builders.clock import T0
from krakenbot.domain import Order, SimulatedClock
from krakenbot.domain.timeconv import to_ms
from krakenbot.domain.vocabulary import EventKind
from krakenbot.execution.executor import ClientOrderIds
from krakenbot.live.account_watch import AccountWatch
from krakenbot.store.journal import MemoryJournal


class KnowingJournal(MemoryJournal):
    """A journal that knows some client order ids (as ``SqlStore.order`` does)."""

    def __init__(self, known: set[str]) -> None:
        super().__init__()
        self.known = known

    def order(self, client_order_id: str) -> Order | None:
        return object() if client_order_id in self.known else None  # type: ignore[return-value]


def setup(journal: MemoryJournal | None = None) -> tuple[SimulatedClock, ClientOrderIds, AccountWatch, MemoryJournal]:
    clock = SimulatedClock(T0)
    ids = ClientOrderIds("kb", clock)
    journal = journal if journal is not None else MemoryJournal()
    return clock, ids, AccountWatch(ids, "kb", journal, clock), journal


def test_another_runs_new_id_pauses_entries_once_and_is_disowned(caplog: pytest.LogCaptureFixture) -> None:
    clock, ids, watch, journal = setup()
    clock.advance(timedelta(seconds=5))
    other = ClientOrderIds("kb", clock)
    first, second = other.next(), other.next()
    with caplog.at_level(logging.ERROR):
        assert watch.saw(first, symbol="PF_ETHUSD", what="fill", now=clock.now())
        assert watch.saw(second, symbol="PF_XBTUSD", what="open order", now=clock.now())
        assert watch.saw(first, symbol="PF_ETHUSD", what="fill", now=clock.now())
    assert watch.entries_paused
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "another process is trading this account with instance id 'kb'" in caplog.records[0].getMessage()
    assert [(e.kind, e.symbol) for e in journal.events] == [(EventKind.ACCOUNT_SHARED, "PF_ETHUSD")]
    assert not ids.is_ours(first) and not ids.is_ours(second)  # never counted or cancelled as ours


def test_our_own_ids_other_prefixes_and_older_runs_are_not_another_process() -> None:
    clock, ids, watch, journal = setup()
    old = f"kb-{to_ms(T0 - timedelta(minutes=5))}-abcdef1"  # a run before this one: reconciled at start
    clock.advance(timedelta(seconds=5))
    for cid in (ids.next(), ids.next(), old, "kbx-1-abc1", "other-999999999999999-abcdef1", "liquidation-7",
                "", None, f"kb-{to_ms(clock.now())}"):
        assert not watch.saw(cid, symbol="PF_XBTUSD", what="fill", now=clock.now()), cid
    assert not watch.entries_paused and journal.events == []
    assert ids.is_ours(old)


def test_an_id_the_store_knows_is_not_another_process() -> None:
    known = f"kb-{to_ms(T0) + 1000}-abcdef1"  # e.g. minted by a run whose clock was ahead: the store knows it
    clock, _, watch, _ = setup(KnowingJournal({known}))
    clock.advance(timedelta(seconds=2))
    assert not watch.saw(known, symbol="PF_XBTUSD", what="open order", now=clock.now())
    unknown = ClientOrderIds("kb", clock).next()
    assert watch.saw(unknown, symbol="PF_XBTUSD", what="open order", now=clock.now())


def test_verdicts_are_bounded() -> None:
    clock, ids, _, journal = setup()
    watch = AccountWatch(ids, "kb", journal, clock, max_checked=3)
    clock.advance(timedelta(seconds=1))
    other = ClientOrderIds("kb", clock)
    for _ in range(10):
        watch.saw(ids.next(), symbol="PF_XBTUSD", what="fill", now=clock.now())  # ours: nothing remembered
        assert watch.saw(other.next(), symbol="PF_XBTUSD", what="fill", now=clock.now())
    assert len(watch._checked) == 3
    assert [(e.kind, e.symbol) for e in journal.events] == [(EventKind.ACCOUNT_SHARED, "PF_XBTUSD")]


def test_client_order_ids_tell_this_runs_ids_and_forget_disowned_ones() -> None:
    clock = SimulatedClock(T0)
    ids, other = ClientOrderIds("kb", clock), ClientOrderIds("kb", clock)
    mine, theirs = ids.next(), other.next()
    assert ids.is_this_runs(mine) and not ids.is_this_runs(theirs) and ids.is_ours(theirs)
    ids.disown(theirs, keep=1)
    assert not ids.is_ours(theirs) and ids.is_ours(mine)
    ids.disown(other.next(), keep=1)  # only the newest ``keep`` are remembered
    assert ids.is_ours(theirs)
