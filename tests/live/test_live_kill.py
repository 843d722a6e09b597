"""kill -9 of a real ``python run.py live --force`` against the loopback Kraken, then a restart.

Each test SIGKILLs the subprocess at a chosen point, restarts it on the same SQLite store and
the same ``FakeKraken``, and checks that nothing was sent twice and nothing was lost:

- every client order id on the wire is unique (across all runs), and the order in flight when
  the process died is on the wire exactly once;
- the restart reconciles (``Reconcile: ... 0 mismatches``) and exits 0;
- the exchange's positions equal the positions built from the store's fills, and each open
  position has exactly one reduce-only stop of ours, on the closing side, sized like it.

The kill points are deterministic, never a race against a sleep:

- between the auction's closes and its opens: the fake holds the margin refresh (the first
  ``/accounts`` request after both reduce-only closes reached it) until the process is dead;
- between send and store (an entry, or an auction close): ``accept_then_hang`` on ``sendorder``,
  so the fake has placed and filled the order while the bot still waits for the answer.

After SIGKILL the OS releases the store's ``flock`` instance lock, so the restart takes it at once.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from krakenbot.domain import OrderSide, OrderStatus
from krakenbot.store.sql import SqlStore
from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken import RequestRecord
from live.e2e_support import BTC, ETH, PREFIX, Stderr, finish, is_reduce_only, orders, start_live, wait_until

pytestmark = pytest.mark.slow  # runs `python run.py live` as a subprocess

HOLD_LIMIT_S = 30.0  # a held request is let go after this even if nobody releases it
HANG_S = 20.0  # accept_then_hang: longer than the client's 5 s timeout, so no answer arrives before the kill

Pick = Callable[[str, str, dict[str, list[str]]], bool]


class HoldingKraken(FakeKraken):
    """The loopback Kraken, able to hold one chosen request (before handling it) until released."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pick: Pick | None = None
        self.held = threading.Event()
        self.released = threading.Event()

    def hold_first(self, pick: Pick) -> None:
        """Hold the first later request for which ``pick(method, path, params)`` is true."""
        with self._lock:
            self._pick = pick

    def handle(self, method: str, path: str, params: dict[str, list[str]], headers: dict[str, str],
               raw: tuple[str, str] = ("", "")) -> tuple[int, str, str]:
        with self._lock:
            take = self._pick is not None and self._pick(method, path, params)
            if take:
                self._pick = None
        if take:
            self.held.set()
            self.released.wait(timeout=HOLD_LIMIT_S)
        return super().handle(method, path, params, headers, raw)


@pytest.fixture
def fake() -> Iterator[HoldingKraken]:
    with HoldingKraken(seed=11) as fk:
        try:
            yield fk
        finally:
            fk.released.set()


# -- helpers ---------------------------------------------------------------------------------------
def sigkill(proc: subprocess.Popen[str], stderr: Stderr) -> str:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return stderr.join()


def book_positions(fk: FakeKraken) -> dict[str, Decimal]:
    """Signed contracts per symbol on the fake exchange (flat symbols left out)."""
    with fk._lock:
        return {s: p.size for s, p in fk.book.positions.items() if p.size}


def our_stops(fk: FakeKraken, symbol: str) -> list[tuple[str, Decimal, bool]]:
    """(side, remaining contracts, reduce-only) of our resting stop orders on ``symbol``."""
    with fk._lock:
        return [(o.side, o.quantity - o.filled, o.reduce_only) for o in fk.book.orders.values()
                if o.symbol == symbol and o.is_trigger and o.closed_at is None
                and (o.cli_ord_id or "").startswith(PREFIX)]


def store_url(cwd: Path) -> str:
    return f"sqlite:///{cwd / 'krakenbot.db'}"  # the subprocess' default store, KRAKENBOT_DATA_DIR=cwd


def positions_from_store_fills(cwd: Path) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    with SqlStore(store_url(cwd)) as store:
        for fill in store.fills():
            totals[fill.symbol] = totals.get(fill.symbol, Decimal(0)) + (
                fill.size if fill.side is OrderSide.BUY else -fill.size)
    return {s: size for s, size in totals.items() if size}


def run_to_end(fk: FakeKraken, cwd: Path, *, side: int, ticks: int = 3) -> str:
    proc, _, deadline = start_live(fk, cwd, "--max-ticks", str(ticks), side=side)
    stderr = Stderr(proc)
    log = finish(proc, stderr, deadline)
    assert proc.returncode == 0, log[-3000:]
    return log


def assert_nothing_sent_twice_nothing_lost(fk: FakeKraken, cwd: Path, sent: list[RequestRecord], log: str) -> None:
    ids = [r.param("cliOrdId") for r in sent]
    assert ids and all(i is not None and i.startswith(PREFIX) for i in ids), ids
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"client order ids sent twice: {duplicates}"
    held = book_positions(fk)
    assert set(held) == {BTC, ETH}, (held, log[-3000:])
    assert held == positions_from_store_fills(cwd), "the exchange's positions differ from the store's fills"
    for symbol, size in held.items():  # one reduce-only stop of ours per position, on its closing side
        closing = "sell" if size > 0 else "buy"
        assert our_stops(fk, symbol) == [(closing, abs(size), True)], (symbol, size, our_stops(fk, symbol))


def reconcile_counts(log: str) -> dict[str, int]:
    """The restart's ``Reconcile:`` summary as {what: count}; asserts it found no mismatch."""
    lines = [line for line in log.splitlines() if "Reconcile:" in line]
    assert len(lines) == 1, log[-3000:]
    counts = {what: int(n) for n, what in re.findall(r"(\d+) ([a-z ]+?)(?:,|  |$)", lines[0].split("Reconcile:")[1])}
    assert counts.get("mismatches") == 0, lines[0]
    return counts


# -- the tests -------------------------------------------------------------------------------------
def test_sigkill_between_auction_closes_and_opens_restart_opens_once_and_loses_nothing(
        fake: HoldingKraken, tmp_path: Path) -> None:
    # run 1: short BTC and ETH, each with its stop
    run_to_end(fake, tmp_path, side=-1)
    assert {s: size < 0 for s, size in book_positions(fake).items()} == {BTC: True, ETH: True}
    sent = orders(fake)

    # run 2: long; its first auction closes both shorts, then refreshes the margin before any open.
    # The fake holds that refresh (the first /accounts after two reduce-only orders): the process
    # is then provably between the closes and the opens when it is killed.
    closes = 0

    def margin_refresh_after_two_closes(_method: str, path: str, params: dict[str, list[str]]) -> bool:
        nonlocal closes
        if path.endswith("/sendorder") and (params.get("reduceOnly") or ["false"])[0].lower() == "true":
            closes += 1
        return closes >= 2 and path.endswith("/accounts")

    fake.hold_first(margin_refresh_after_two_closes)
    proc, started, deadline = start_live(fake, tmp_path, side=1)
    stderr = Stderr(proc)
    try:
        wait_until("the margin refresh after both closes held by the fake",
                   lambda: fake.held.is_set() and stderr.index(f"Auction: close {BTC} (reversed)") >= 0
                   and stderr.index(f"Auction: close {ETH} (reversed)") >= 0, proc, stderr, deadline)
        run2 = orders(fake)
        log2 = sigkill(proc, stderr)
    finally:
        fake.released.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_at = time.monotonic() - started
    assert "Auction: open" not in log2, log2[-3000:]
    assert [(r.param("symbol"), is_reduce_only(r)) for r in run2] in (
        [(BTC, True), (ETH, True)], [(ETH, True), (BTC, True)]), [r.query for r in run2]
    assert book_positions(fake) == {}  # both shorts closed on the exchange, nothing opened yet
    close_ids = {r.param("cliOrdId") for r in run2}
    with SqlStore(store_url(tmp_path)) as store:  # the closes were stored before the kill
        assert all(store.intent(c) is not None for c in close_ids if c)
        assert {(o.client_order_id, o.status) for o in store.orders() if o.client_order_id in close_ids} == {
            (c, OrderStatus.FILLED) for c in close_ids if c}
    sent += run2

    # run 3: restart on the same store; reconcile, then open both longs once, with their stops
    log3 = run_to_end(fake, tmp_path, side=1)
    run3 = orders(fake)
    sent += run3
    counts = reconcile_counts(log3)
    assert counts["orders adopted"] == 0 and counts["fills recorded"] == 0, counts  # the closes were stored
    assert not [r for r in run3 if r.param("orderType") == "ioc" and is_reduce_only(r)], "a close was resent"
    entries = Counter(r.param("symbol") for r in run3 if not is_reduce_only(r))
    assert entries == {BTC: 1, ETH: 1}, entries
    assert all(size > 0 for size in book_positions(fake).values())
    assert_nothing_sent_twice_nothing_lost(fake, tmp_path, sent, log3)
    assert killed_at < 20.0


def kill_with_first_answer_lost(fk: FakeKraken, cwd: Path, *, side: int) -> RequestRecord:
    """Start a run; the fake places (and fills) its first order, then holds the answer: SIGKILL then.

    The bot has written the intent and sent the order, but never learned what became of it.
    Returns the order's request.
    """
    fk.inject("accept_then_hang", path="/sendorder", times=1, delay_seconds=HANG_S)
    proc, started, deadline = start_live(fk, cwd, side=side)
    stderr = Stderr(proc)

    def first_order_accepted() -> bool:
        sent_now = orders(fk)
        with fk._lock:
            return bool(sent_now) and sent_now[0].param("cliOrdId") in fk.book.by_cli

    try:
        wait_until("the first order accepted by the fake", first_order_accepted, proc, stderr, deadline)
        sent = orders(fk)
        lookups = fk.requests_to("/orders/status")
        sigkill(proc, stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - started < 20.0
    assert len(sent) == 1 and not lookups, "the bot got past the lost answer before the kill"
    cid = sent[0].param("cliOrdId")
    assert cid is not None
    with SqlStore(store_url(cwd)) as store:  # sent after its intent was stored; its answer never stored
        assert store.intent(cid) is not None
        order = store.order(cid)
        assert order is None or order.status in (OrderStatus.INTENDED, OrderStatus.SUBMITTED), order
        assert not [f for f in store.fills() if f.client_order_id == cid]
    return sent[0]


def assert_adopted_once(cwd: Path, cid: str, size: Decimal, sent_after: list[RequestRecord], log: str) -> None:
    """The restart adopted the order in doubt by its client id, with its fill, and never resent it."""
    counts = reconcile_counts(log)
    assert counts["orders adopted"] >= 1 and counts["fills recorded"] >= 1, counts
    assert cid not in {r.param("cliOrdId") for r in sent_after}, "the order in doubt was resent"
    with SqlStore(store_url(cwd)) as store:
        order = store.order(cid)
        assert order is not None and order.status is OrderStatus.FILLED, order
        assert sum(f.size for f in store.fills() if f.client_order_id == cid) == size


def test_sigkill_between_sending_an_entry_and_storing_its_answer_restart_adopts_it_and_never_enters_twice(
        fake: HoldingKraken, tmp_path: Path) -> None:
    # run 1: from flat, long; killed while its first entry's answer is outstanding
    entry = kill_with_first_answer_lost(fake, tmp_path, side=1)
    cid, symbol = entry.param("cliOrdId"), entry.param("symbol")
    assert cid is not None and symbol in (BTC, ETH) and not is_reduce_only(entry)
    filled = book_positions(fake)
    assert list(filled) == [symbol] and filled[symbol] > 0, filled
    sent = [entry]

    # run 2: restart; reconcile looks the entry up by client id and adopts it with its fill
    log2 = run_to_end(fake, tmp_path, side=1)
    run2 = orders(fake)
    sent += run2
    counts = reconcile_counts(log2)
    assert counts["orders adopted"] == 1 and counts["fills recorded"] == 1, counts
    assert_adopted_once(tmp_path, cid, filled[symbol], run2, log2)
    entries = Counter(r.param("symbol") for r in sent if not is_reduce_only(r))
    other = ETH if symbol == BTC else BTC
    assert entries == {symbol: 1, other: 1}, entries  # the adopted position is not entered again
    assert book_positions(fake)[symbol] == filled[symbol]  # neither lost nor doubled
    assert_nothing_sent_twice_nothing_lost(fake, tmp_path, sent, log2)


def test_sigkill_between_sending_an_auction_close_and_storing_its_answer_restart_reverses_without_resending(
        fake: HoldingKraken, tmp_path: Path) -> None:
    # run 1: short BTC and ETH, each with its stop
    run_to_end(fake, tmp_path, side=-1)
    shorts = book_positions(fake)
    assert {s: size < 0 for s, size in shorts.items()} == {BTC: True, ETH: True}
    sent = orders(fake)

    # run 2: long; killed while the answer to its first auction close is outstanding
    close = kill_with_first_answer_lost(fake, tmp_path, side=1)
    cid, symbol = close.param("cliOrdId"), close.param("symbol")
    assert cid is not None and symbol in (BTC, ETH) and is_reduce_only(close)
    other = ETH if symbol == BTC else BTC
    assert book_positions(fake) == {other: shorts[other]}  # the close was done on the exchange
    sent.append(close)

    # run 3: restart; the close is adopted, not resent; the other short is closed; both longs open
    log3 = run_to_end(fake, tmp_path, side=1)
    run3 = orders(fake)
    sent += run3
    assert_adopted_once(tmp_path, cid, -shorts[symbol], run3, log3)
    counts = reconcile_counts(log3)  # the close, and both shorts' stops (the closed one's not cancelled yet)
    assert counts["orders adopted"] == 3 and counts["fills recorded"] == 1, counts
    closes = Counter(r.param("symbol") for r in run3 if r.param("orderType") == "ioc" and is_reduce_only(r))
    assert closes == {other: 1}, closes
    entries = Counter(r.param("symbol") for r in run3 if not is_reduce_only(r))
    assert entries == {BTC: 1, ETH: 1}, entries
    assert all(size > 0 for size in book_positions(fake).values())
    assert_nothing_sent_twice_nothing_lost(fake, tmp_path, sent, log3)
