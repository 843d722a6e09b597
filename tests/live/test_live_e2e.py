"""End to end: ``python run.py live --force`` against the loopback Kraken, with a shock injected.

The real command runs as a subprocess (real ccxt client, real wiring, SQLite store, wall clock)
against a ``FakeKraken`` served from this test process. A first run, with the test strategy
(``always_long.AlwaysLong``) set to short, opens BTC and ETH shorts and exits. The second run,
set to long, starts by reconciling its store with the exchange (it adopts its own stops and
fills), then its first auction closes both shorts (reversed), refreshes the margin and opens
longs. Once both are protected by their stops the test moves BTC's mark by -6 %: the ShockGuard
fires, entries pause and the BTC position, now inside the trim buffer, is trimmed with a
reduce-only order and its stop resized.

Sizing (equity 10,000 USD, ``risk_per_trade_pct`` 0.1, stop 8 %): each position is ~12,500 USD
notional (0.1288 BTC at 97,000; 3.675 ETH at 3,400). After BTC -6 % equity is ~9,235 USD and
maintenance margin (1 % at 50x) ~242 USD, so BTC's liquidation buffer is
(9,235 - 242) / (11,745 x 0.99) ~ 0.77: below ``trim_buffer_pct`` 0.9, above ``emergency_buffer_pct``
0.5 -> TRIM of ~14 % (0.0180 BTC).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from krakenbot.testing import FakeKraken
from live.e2e_support import (
    API_KEY,
    API_SECRET,
    BTC,
    DEADLINE_S,
    ETH,
    PREFIX,
    Stderr,
    finish,
    is_reduce_only,
    open_stops,
    orders,
    start_live,
    wait_until,
)

pytestmark = pytest.mark.slow  # runs `python run.py live` as a subprocess

BTC_MARK = 97_000.0
SHOCK_PCT = -0.06
MAX_TICKS = 5


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(seed=11) as fk:
        yield fk


def test_live_force_against_loopback_kraken_reverses_trims_on_shock_and_exits_cleanly(
        fake: FakeKraken, tmp_path: Path) -> None:
    # run 1: always short; it opens BTC and ETH shorts with their stops, then stops after its ticks
    first, _, first_deadline = start_live(fake, tmp_path, "--max-ticks", "3", side=-1)
    first_err = Stderr(first)
    first.wait(timeout=max(1.0, first_deadline - time.monotonic()))
    assert first.returncode == 0, first_err.join()[-3000:]
    with fake._lock:
        assert {s: p.size < 0 for s, p in fake.book.positions.items() if p.size} == {BTC: True, ETH: True}
    assert open_stops(fake, BTC) and open_stops(fake, ETH)
    # run 2: always long; it reconciles the store with Kraken, then reverses both positions
    proc, started, deadline = start_live(fake, tmp_path, "--max-ticks", str(MAX_TICKS))
    stderr = Stderr(proc)
    try:
        # 1. the first auction: close the shorts, refresh margin, open both longs with their stops
        wait_until("both opens protected by stops",
                   lambda: stderr.index(f"Auction: open {BTC}") >= 0 and stderr.index(f"Auction: open {ETH}") >= 0
                   and bool(open_stops(fake, BTC)) and bool(open_stops(fake, ETH)), proc, stderr, deadline)
        before_shock = len(orders(fake))
        btc_stop_before = open_stops(fake, BTC)
        # 2. the shock: BTC's mark -6 % between two ticks
        fake.set_mark(BTC, BTC_MARK * (1 + SHOCK_PCT))
        wait_until("a reduce-only BTC order after the shock and a resized stop",
                   lambda: any(r.param("symbol") == BTC and is_reduce_only(r) and r.param("orderType") == "ioc"
                               for r in orders(fake)[before_shock:])
                   and bool(open_stops(fake, BTC)) and open_stops(fake, BTC) != btc_stop_before,
                   proc, stderr, deadline)
    finally:
        log = finish(proc, stderr, deadline)
    stdout = stderr.stdout()
    elapsed = time.monotonic() - started

    assert proc.returncode == 0, log[-3000:]
    assert API_SECRET not in log + stdout and API_KEY not in log + stdout

    sent = orders(fake)
    # every order the bot sent carries a unique client order id with the instance prefix
    ids = [r.param("cliOrdId") for r in sent]
    assert ids and all(i is not None and i.startswith(PREFIX) for i in ids), ids
    assert len(set(ids)) == len(ids)

    # closes, then the margin refresh (accounts), then the opens: in the log and on the wire
    close_line = stderr.index(f"Auction: close {BTC} (reversed)")
    refresh_line = stderr.index("Auction: Margin refreshed after closes")
    open_lines = [stderr.index(f"Auction: open {s}") for s in (BTC, ETH)]
    assert 0 <= close_line < refresh_line < min(open_lines), log[-3000:]
    requests = fake.requests
    close_at = next(i for i, r in enumerate(requests) if "sendorder" in r.path and is_reduce_only(r)
                    and r.param("symbol") == BTC and r.param("side") == "buy")
    first_open = next(i for i, r in enumerate(requests) if "sendorder" in r.path and not is_reduce_only(r))
    assert close_at < first_open
    assert any("/accounts" in r.path for r in requests[close_at + 1:first_open]), "no account refresh between"

    # the shock was detected; after it, no new entry on BTC, and BTC was trimmed reduce-only
    shock_line = stderr.index(f"SHOCK_MODE ACTIVATED kind=range symbol={BTC}")
    assert shock_line > max(open_lines), log[-3000:]
    after = sent[before_shock:]
    assert not [r for r in after if r.param("symbol") == BTC and not is_reduce_only(r)]
    trims = [r for r in after if r.param("symbol") == BTC and r.param("orderType") == "ioc"]
    assert trims and all(is_reduce_only(r) and r.param("side") == "sell" for r in trims)
    assert stderr.index(f"{BTC}: shock TRIM", shock_line) > shock_line
    # the position is smaller, still long, and its stop was resized to it
    with fake._lock:
        btc_left = fake.book.positions[BTC].size
    assert 0 < btc_left < 0.1288
    assert open_stops(fake, BTC) == [str(btc_left)]
    assert elapsed < DEADLINE_S


def test_sigterm_finishes_the_tick_and_leaves_positions_protected_by_stops(fake: FakeKraken, tmp_path: Path) -> None:
    proc, _, deadline = start_live(fake, tmp_path)  # no --max-ticks: it runs until told to stop
    stderr = Stderr(proc)
    try:
        wait_until("both opens protected by stops",
                   lambda: bool(open_stops(fake, BTC)) and bool(open_stops(fake, ETH)), proc, stderr, deadline)
        proc.send_signal(signal.SIGTERM)
    finally:
        log = finish(proc, stderr, deadline)
    assert proc.returncode == 0, log[-3000:]
    assert "signal SIGTERM: finishing the tick, then stopping" in log, log[-3000:]
    with fake._lock:
        held = {s: str(p.size) for s, p in fake.book.positions.items() if p.size}
    assert set(held) == {BTC, ETH}, (held, log[-3000:])
    for symbol, size in held.items():  # each position still has its reduce-only stop, sized like it
        assert open_stops(fake, symbol) == [size], (symbol, size, open_stops(fake, symbol), log[-3000:])
