import pytest

from krakenbot.domain.vocabulary import OrderReason
from krakenbot.execution.executor import ExecutionResult


def test_execution_result_carries_its_reason_as_an_order_reason() -> None:
    result = ExecutionResult(symbol="PF_XBTUSD", reason="auction_open", refused="entries paused")
    assert result.reason is OrderReason.AUCTION_OPEN
    assert ExecutionResult(symbol="PF_XBTUSD", reason=OrderReason.STOP).reason is OrderReason.STOP


def test_execution_result_refuses_a_reason_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="auction-open"):
        ExecutionResult(symbol="PF_XBTUSD", reason="auction-open")


# -- prices below one tick (an asset that fell by orders of magnitude) --------------------------------
from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

from builders.account import make_perp  # noqa: E402
from builders.clock import T0  # noqa: E402
from builders.exchange import RecordingPaperExchange  # noqa: E402
from krakenbot.config.models import LoopConfig  # noqa: E402
from krakenbot.domain import Instrument, OrderIntent, OrderSide, OrderStatus, OrderType, SimulatedClock  # noqa: E402
from krakenbot.execution.executor import ClientOrderIds, Executor  # noqa: E402
from krakenbot.store.journal import MemoryJournal  # noqa: E402


def test_close_of_a_short_whose_mark_fell_below_one_tick_is_sent_at_one_tick_not_refused() -> None:
    """LUNA, May 2022: a short opened at 62.587 on a 0.001-tick contract; the mark is now 0.00032. The buy
    close's limit must stay a valid price (one tick, still marketable), never 0.000 (which raised)."""
    luna = make_perp("PF_LUNAUSD", base="LUNA", lot="1", tick="0.001", max_leverage=10)
    clock = SimulatedClock(T0)
    journal = MemoryJournal()
    paper = RecordingPaperExchange(instruments={luna.symbol: luna}, clock=clock, journal=journal)
    paper.update_market({luna.symbol: 62.587})
    paper.create_order(OrderIntent(client_order_id="manual-1", symbol=luna.symbol, side=OrderSide.SELL,
                                   size=Decimal("10"), order_type=OrderType.MARKET, reduce_only=False,
                                   reason="manual", ts_created=T0))
    clock.advance(timedelta(days=3))
    paper.update_market({luna.symbol: 0.00032})
    executor = Executor(exchange=paper, instruments={luna.symbol: luna}, journal=journal, clock=clock,
                        ids=ClientOrderIds("kb", clock), loop_cfg=LoopConfig())
    [short] = paper.fetch_positions()
    result = executor.reduce(short, size=None, mark=0.00032, reason=OrderReason.END_OF_DATA)
    [intent] = [i for i in journal.intents if i.reason == "end_of_data"]
    assert intent.limit_price == Decimal("0.001") and intent.reduce_only
    assert result.refused is None and result.filled_size == Decimal("10")
    assert paper.fetch_positions() == []


# -- giving up on an order whose answer was lost (issue 11 item 9) -------------------------------------
class _LaggingLookups(RecordingPaperExchange):
    """Lookups by client id never find the order; its fills are reported."""

    def fetch_order_by_client_id(self, client_order_id: str, symbol: str) -> None:  # type: ignore[override]
        return None


def _lagging_rig() -> tuple[Instrument, SimulatedClock, MemoryJournal, _LaggingLookups, Executor]:
    """BTC at 97,000 on a paper exchange whose lookups by client id never find an order."""
    btc = make_perp("PF_XBTUSD", base="XBT", lot="0.0001", tick="0.5", max_leverage=50)
    clock = SimulatedClock(T0)
    journal = MemoryJournal()
    paper = _LaggingLookups(instruments={btc.symbol: btc}, clock=clock, journal=journal)
    paper.update_market({btc.symbol: 97_000.0})
    executor = Executor(exchange=paper, instruments={btc.symbol: btc}, journal=journal, clock=clock,
                        ids=ClientOrderIds("kb", clock), loop_cfg=LoopConfig())
    return btc, clock, journal, paper, executor


def test_give_up_checks_the_fills_and_records_a_filled_order_as_filled_never_as_never_placed() -> None:
    btc, clock, journal, paper, executor = _lagging_rig()
    intent = OrderIntent(client_order_id=executor.ids.next(), symbol=btc.symbol, side=OrderSide.BUY,
                         size=Decimal("0.01"), order_type=OrderType.MARKET, reduce_only=False,
                         reason=OrderReason.AUCTION_OPEN, ts_created=T0)
    journal.record_intent(intent)
    paper.create_order(intent)  # accepted and filled; the answer is lost
    executor.in_doubt[intent.client_order_id] = intent
    clock.advance(timedelta(seconds=61))
    [result] = executor.poll_in_doubt(give_up_after=timedelta(seconds=60))
    assert result.filled_size == Decimal("0.01")
    assert journal.orders[intent.client_order_id].status is OrderStatus.FILLED
    assert intent.client_order_id not in executor.in_doubt and intent.client_order_id not in executor.given_up


def test_give_up_records_a_partly_filled_ioc_found_by_its_fills_as_finished() -> None:
    from dataclasses import replace

    btc, clock, journal, paper, executor = _lagging_rig()
    intent = OrderIntent(client_order_id=executor.ids.next(), symbol=btc.symbol, side=OrderSide.BUY,
                         size=Decimal("0.02"), order_type=OrderType.IOC, reduce_only=False,
                         limit_price=Decimal("97500"), reason=OrderReason.AUCTION_OPEN, ts_created=T0)
    journal.record_intent(intent)
    paper.create_order(replace(intent, size=Decimal("0.01")))  # only half of it found liquidity; the answer is lost
    executor.in_doubt[intent.client_order_id] = intent
    clock.advance(timedelta(seconds=61))
    [result] = executor.poll_in_doubt(give_up_after=timedelta(seconds=60))
    order = journal.orders[intent.client_order_id]
    assert result.filled_size == Decimal("0.01") and order.filled_size == Decimal("0.01")
    assert order.status is OrderStatus.CANCELLED and order.is_done  # an IOC never rests: not PARTIALLY_FILLED


# -- client order ids ------------------------------------------------------------------------------------------
def test_client_order_ids_of_one_instant_share_its_millisecond_and_a_later_instant_carries_its_own() -> None:
    clock = SimulatedClock(T0)
    ids = ClientOrderIds("kb", clock)
    first, second = ids.next(now=clock.now()), ids.next()
    ms = int(T0.timestamp() * 1000)
    assert first.startswith(f"kb-{ms}-") and second.startswith(f"kb-{ms}-") and first != second
    clock.advance(timedelta(milliseconds=7))
    later, unstored = ids.next(), ids.next(unstored=True)
    assert later.startswith(f"kb-{ms + 7}-") and unstored.startswith(f"kb-{ms + 7}-")
    assert len({first, second, later, unstored}) == 4 and all(ids.is_this_runs(i) for i in (first, second, later))
