"""Operator controls against the loopback Kraken (live mode, real ccxt client, SQLite store): each command is
applied by the loop's own thread at its next tick, journaled, and a flatten closes reduce-only through the
executor (its intent stored before the order, the stop cancelled), never around it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path

import pytest

from builders.loop_thread import running
from faults.loopback import BTC, ETH, START, Bot, ticking_bot
from krakenbot.config.models import ApiConfig, OpsConfig
from krakenbot.domain.journal import JournalEvent
from krakenbot.domain.vocabulary import EventKind, OrderReason
from krakenbot.live.controls import ControlError, ControlOutcome, OperatorCommand, OperatorControls, TradingMode
from krakenbot.live.wiring import restore_operator_mode


@pytest.fixture
def fast_bot(tmp_path: Path) -> Iterator[Bot]:
    """A loopback bot whose ``run`` ticks every 50 ms (its simulated clock stands still meanwhile)."""
    with ticking_bot(tmp_path) as bot:
        yield bot


def test_pause_then_flatten_go_through_the_loop_the_executor_and_the_journal(fast_bot: Bot) -> None:
    bot = fast_bot
    loop = bot.start()
    bot.auction(bot.signal(BTC))
    size = bot.exchange_positions()[BTC]
    assert size > 0 and bot.open_stops(BTC) == [size]
    bot.signals.next = []
    queued: Future[ControlOutcome] = loop.controls.submit(OperatorCommand.PAUSE, source="test")
    assert not queued.done()  # nothing happens outside the loop's tick
    assert bot.sent() and not bot.store.events(EventKind.OPERATOR_PAUSE)

    with running(loop):
        paused = queued.result(timeout=10)
        flat = loop.controls.request(OperatorCommand.FLATTEN, symbol=BTC, source="test", timeout=10)

    assert paused.ok and paused.mode is TradingMode.PAUSED
    assert flat.ok and [c.symbol for c in flat.closes] == [BTC] and flat.closes[0].filled == str(size)
    # through the executor: an intent stored with the operator's reason, a reduce-only IOC sent, the stop gone
    [close] = [i for i in bot.store.intents() if i.reason == OrderReason.OPERATOR_STOP]
    assert close.symbol == BTC and close.reduce_only and close.size == size
    [sent] = [r for r in bot.sent(BTC) if r.param("cliOrdId") == close.client_order_id]
    assert sent.param("reduceOnly") == "true" and sent.param("orderType") == "ioc"
    assert BTC not in bot.exchange_positions() and bot.open_stops(BTC) == []
    # journaled, in order, with who asked and what was filled
    kinds = [e.kind for e in bot.store.events() if e.kind.startswith("operator_")]
    assert kinds == [EventKind.OPERATOR_PAUSE, EventKind.OPERATOR_FLATTEN]
    [event] = bot.store.events(EventKind.OPERATOR_FLATTEN)
    assert event.symbol == BTC and f"filled {size}" in event.detail and "by test" in event.detail
    bot.check()

    # paused, and BTC flattened: the next auction enters nothing
    sends = len(bot.sent())
    bot.auction(bot.signal(BTC), bot.signal(ETH))
    assert len(bot.sent()) == sends and bot.exchange_positions() == {}
    # the loop has stopped: a command is refused at once, not left waiting
    with pytest.raises(ControlError, match="stopped"):
        loop.controls.submit(OperatorCommand.RESUME)


def test_resume_lifts_the_pause_and_the_flattened_symbols(fast_bot: Bot) -> None:
    bot = fast_bot
    loop = bot.start()
    bot.signals.next = []
    with running(loop):
        loop.controls.request(OperatorCommand.REDUCE_ONLY, timeout=10)
        assert loop.controls.entry_refusal(ETH) == "reduce-only by the operator"
        nothing = loop.controls.request(OperatorCommand.FLATTEN, symbol=ETH, timeout=10)
        unknown = loop.controls.request(OperatorCommand.FLATTEN, symbol="PF_NOPEUSD", timeout=10)
        resumed = loop.controls.request(OperatorCommand.RESUME, timeout=10)
    assert nothing.ok and nothing.closes == () and "nothing to close" in nothing.detail
    assert not unknown.ok and "not traded by this loop" in unknown.detail
    assert resumed.mode is TradingMode.ACTIVE and "was reduce_only, flattened ['PF_ETHUSD']" in resumed.detail
    assert loop.controls.entry_refusal(ETH) is None
    bot.auction(bot.signal(ETH))
    assert bot.exchange_positions()[ETH] > Decimal(0)


def _event(kind: EventKind, symbol: str = "*") -> JournalEvent:
    return JournalEvent(ts=START, kind=kind, symbol=symbol, detail="(by test)")


@pytest.mark.parametrize(("kinds", "mode", "flattened"), [
    ([], TradingMode.ACTIVE, set()),
    ([EventKind.OPERATOR_PAUSE], TradingMode.PAUSED, set()),
    ([EventKind.OPERATOR_PAUSE, EventKind.OPERATOR_RESUME], TradingMode.ACTIVE, set()),
    ([EventKind.OPERATOR_REDUCE_ONLY], TradingMode.REDUCE_ONLY, set()),
    ([(EventKind.OPERATOR_FLATTEN, BTC)], TradingMode.ACTIVE, {BTC}),
    ([EventKind.OPERATOR_FLATTEN], TradingMode.PAUSED, set()),  # flatten-all pauses
    ([EventKind.OPERATOR_REDUCE_ONLY, EventKind.OPERATOR_FLATTEN], TradingMode.REDUCE_ONLY, set()),
    ([(EventKind.OPERATOR_FLATTEN, ETH), EventKind.OPERATOR_RESUME, EventKind.OPERATOR_PAUSE],
     TradingMode.PAUSED, set()),
])
def test_restore_replays_the_journaled_commands_as_apply_set_them(
        kinds: list[EventKind | tuple[EventKind, str]], mode: TradingMode, flattened: set[str]) -> None:
    controls = OperatorControls()
    events = [_event(*k) if isinstance(k, tuple) else _event(k) for k in kinds]
    said = controls.restore(events)
    assert controls.mode is mode and controls.flattened == flattened
    assert (said is None) == (mode is TradingMode.ACTIVE and not flattened)


def test_a_restarted_live_bot_keeps_the_operators_pause_when_its_api_is_on(fast_bot: Bot) -> None:
    bot = fast_bot
    loop = bot.start()
    bot.signals.next = []
    with running(loop):
        loop.controls.request(OperatorCommand.PAUSE, source="test", timeout=10)
    api_on = bot.cfg.model_copy(update={"ops": OpsConfig(api=ApiConfig(enabled=True))})
    assert restore_operator_mode(bot.restart(), bot.store, api_on) is not None
    assert bot.live.controls.mode is TradingMode.PAUSED
    bot.auction(bot.signal(BTC))
    assert bot.exchange_positions() == {}  # the restarted bot entered nothing
    # with the API off there is no way to resume: the journaled pause is not restored (said in the log)
    assert restore_operator_mode(bot.restart(), bot.store, bot.cfg) is None
    assert bot.live.controls.mode is TradingMode.ACTIVE
