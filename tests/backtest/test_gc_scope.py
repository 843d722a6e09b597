"""A backtest run collects only the young generations and leaves the interpreter's gc settings as it found them."""

from __future__ import annotations

import gc
import threading

import pytest
from bench.krakenbot_side import ema_cross_config
from bench.synthetic import random_walk_market

from krakenbot.backtest.engine import Backtest
from krakenbot.backtest.gc_scope import NEVER, young_collections_only

ODD_THRESHOLDS = (650, 9, 11)  # not the defaults: a restore to the defaults would not pass for one


@pytest.fixture
def thresholds():
    """Set ``ODD_THRESHOLDS`` for the test, the interpreter's own after it."""
    saved = gc.get_threshold()
    gc.set_threshold(*ODD_THRESHOLDS)
    yield ODD_THRESHOLDS
    gc.set_threshold(*saved)


def _backtest() -> Backtest:
    data = random_walk_market(1, 3_000, seed=7)
    cfg = ema_cross_config(list(data.symbols), notional_usd=1_000.0, initial_equity_usd=10_000.0,
                           taker_fee_pct=0.0005)
    return Backtest(cfg, data, progress=False)


def test_young_collections_only_raises_the_oldest_threshold_and_restores_it(thresholds):
    with young_collections_only():
        assert gc.get_threshold() == (*thresholds[:2], NEVER)
    assert gc.get_threshold() == thresholds


def test_young_collections_only_restores_the_thresholds_when_the_block_raises(thresholds):
    with pytest.raises(RuntimeError), young_collections_only():
        raise RuntimeError("inside")
    assert gc.get_threshold() == thresholds


def test_nested_and_concurrent_scopes_restore_when_the_last_one_leaves(thresholds):
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with young_collections_only():
            entered.set()
            release.wait(10)

    with young_collections_only():
        thread = threading.Thread(target=other)
        thread.start()
        assert entered.wait(10)
        with young_collections_only():
            assert gc.get_threshold()[2] == NEVER
    assert gc.get_threshold()[2] == NEVER  # the thread's scope is still open
    release.set()
    thread.join(10)
    assert gc.get_threshold() == thresholds


def test_a_run_has_no_full_collection_and_leaves_the_thresholds(thresholds):
    seen: list[tuple[int, tuple[int, int, int]]] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append((info["generation"], gc.get_threshold()))

    bt, frozen = _backtest(), gc.get_freeze_count()
    inside: list[tuple[int, int, int]] = []
    advance = bt.loop.advance

    def advance_and_look(*args, **kwargs):  # type: ignore[no-untyped-def]
        inside.append(gc.get_threshold())
        return advance(*args, **kwargs)

    bt.loop.advance = advance_and_look  # type: ignore[method-assign]
    gc.callbacks.append(note)
    try:
        bt.run()
    finally:
        gc.callbacks.remove(note)
    assert inside and set(inside) == {(*thresholds[:2], NEVER)}
    assert not [g for g, _ in seen if g == 2]
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == frozen


def test_a_run_that_raises_in_the_loop_leaves_the_thresholds(thresholds):
    bt, frozen = _backtest(), gc.get_freeze_count()
    calls = 0
    advance = bt.loop.advance

    def fail_on_the_third(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("wake failed")
        return advance(*args, **kwargs)

    bt.loop.advance = fail_on_the_third  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="wake failed"):
        bt.run()
    assert calls == 3
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == frozen
