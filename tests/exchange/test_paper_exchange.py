"""PaperExchange accounting: fees, PnL, funding and liquidation as a Kraken flex account would."""

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders.account import btc_perp, make_perp
from builders.clock import T0
from builders.exchange import intent
from krakenbot.config import FeesConfig
from krakenbot.domain import OrderSide, OrderType, SimulatedClock
from krakenbot.exchange.paper import PaperExchange, _fee_decimal

NO_SLIP = FeesConfig(taker_fee_pct=0.0005, maker_fee_pct=0.0002, slippage_pct=0.0)


def paper(equity: float = 10_000, fees: FeesConfig = NO_SLIP,
          leverage: float = 50) -> tuple[PaperExchange, SimulatedClock]:
    clock = SimulatedClock(T0)
    exchange = PaperExchange(instruments={"PF_XBTUSD": btc_perp(max_leverage=leverage)}, fees=fees, clock=clock,
                             initial_equity_usd=equity)
    exchange.update_market({"PF_XBTUSD": 30_000.0})
    return exchange, clock


def test_round_trip_pnl_is_price_move_minus_taker_fees():
    ex, _ = paper()
    ex.create_order(intent("a", OrderSide.BUY, "0.1", limit="31000"))
    ex.update_market({"PF_XBTUSD": 31_000.0})
    ex.create_order(intent("b", OrderSide.SELL, "0.1", limit="30000", reduce_only=True))
    fees = 0.1 * 30_000 * 0.0005 + 0.1 * 31_000 * 0.0005
    assert ex.fetch_account().equity_usd == pytest.approx(10_000 + 100 - fees)
    assert ex.fees_paid_usd == pytest.approx(fees)


def test_funding_paid_by_longs_each_hour_when_rate_positive():
    ex, clock = paper()
    ex.create_order(intent("a", OrderSide.BUY, "1", limit="31000"))
    before = ex.cash_usd
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        ex.update_market({"PF_XBTUSD": 30_000.0}, funding_rates={"PF_XBTUSD": 0.0001})
    assert ex.funding_paid_usd == pytest.approx(3 * 30_000 * 0.0001)
    assert before - ex.cash_usd == pytest.approx(3 * 30_000 * 0.0001)


def test_liquidation_at_mark_when_equity_below_maintenance():
    ex, _ = paper(equity=1_000, leverage=10)
    ex.create_order(intent("a", OrderSide.BUY, "0.3", limit="31000"))  # 9,000 USD notional on 1,000 equity
    ex.update_market({"PF_XBTUSD": 28_000.0})  # loses 600: equity 395 < maintenance 420
    assert ex.liquidations == 1
    assert ex.fetch_positions() == []
    assert ex.fetch_fills()[-1].client_order_id == "liquidation-1"


def test_bad_marks_are_ignored():
    ex, _ = paper()
    ex.update_market({"PF_XBTUSD": float("nan")})
    ex.update_market({"PF_XBTUSD": 0.0})
    assert ex.mark("PF_XBTUSD") == 30_000.0


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
                                st.integers(min_value=1, max_value=50),
                                st.integers(min_value=20_000, max_value=40_000)), min_size=1, max_size=12))
def test_equity_equals_cash_flows_whatever_the_order_sequence(steps):
    ex, _ = paper(equity=1_000_000, fees=FeesConfig(taker_fee_pct=0.0005, maker_fee_pct=0.0, slippage_pct=0.0))
    expected_cash = 1_000_000.0
    size = 0.0
    for i, (side, lots, mark) in enumerate(steps):
        ex.update_market({"PF_XBTUSD": float(mark)})  # whole-dollar marks: the tick is 1 USD
        qty = lots / 1000
        expected_cash -= qty * ex.mark("PF_XBTUSD") * 0.0005  # type: ignore[operator]
        expected_cash += (-qty if side is OrderSide.BUY else qty) * ex.mark("PF_XBTUSD")  # type: ignore[operator]
        size += qty if side is OrderSide.BUY else -qty
        ex.create_order(intent(f"o{i}", side, f"{qty:.3f}", limit="60000" if side is OrderSide.BUY else "10000"))
    # Equity = cash flows + value of what is held at the mark (a futures account's mark-to-market).
    assert ex.fetch_account().equity_usd == pytest.approx(expected_cash + size * ex.mark("PF_XBTUSD"), rel=1e-9)


class _SettableClock:
    """A clock a test moves at will, backwards too (a wall clock can be set back)."""

    def __init__(self, ts: datetime) -> None:
        self.ts = ts

    def now(self) -> datetime:
        return self.ts


def _filled_at(gaps_ms: list[int]) -> PaperExchange:
    """A paper account with one market fill per gap: each at the previous fill's time + gap (ms, may be 0 or < 0)."""
    clock = _SettableClock(T0)
    ex = PaperExchange(instruments={"PF_XBTUSD": btc_perp()}, fees=NO_SLIP, clock=clock, initial_equity_usd=10_000)
    ex.update_market({"PF_XBTUSD": 30_000.0})
    for i, gap in enumerate(gaps_ms):
        clock.ts += timedelta(milliseconds=gap)
        ex.create_order(intent(f"o{i}", OrderSide.BUY if i % 2 == 0 else OrderSide.SELL, "0.001"))
    return ex


def _probes(ex: PaperExchange, extra_ms: list[int]) -> list[datetime]:
    """Every fill's time and 1 microsecond either side (the boundaries), before and after all, and ``extra_ms``."""
    one = timedelta(microseconds=1)
    stamps = [f.ts for f in ex.fetch_fills()]
    return ([t + d for t in stamps for d in (-one, timedelta(0), one)] + [T0 - timedelta(days=1), T0 - one, T0]
            + [max(stamps, default=T0) + timedelta(days=1)] + [T0 + timedelta(milliseconds=m) for m in extra_ms])


@settings(max_examples=80, deadline=None)
@given(gaps=st.lists(st.integers(min_value=0, max_value=3), max_size=30),
       extra=st.lists(st.integers(min_value=-5, max_value=100), max_size=10))
def test_fetch_fills_since_equals_filtering_every_fill_by_ts_at_or_after_since(gaps, extra):
    # Repeated timestamps (gap 0) are common: many fills at one wake.
    ex = _filled_at(gaps)
    every = list(ex.fetch_fills())
    assert [f.client_order_id for f in every] == [f"o{i}" for i in range(len(gaps))]
    assert list(ex.fetch_fills(None)) == every
    for since in _probes(ex, extra):
        assert list(ex.fetch_fills(since)) == [f for f in every if f.ts >= since], since


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.integers(min_value=-3, max_value=3), max_size=20),
       extra=st.lists(st.integers(min_value=-50, max_value=50), max_size=10))
def test_fetch_fills_since_still_filters_exactly_after_the_clock_went_back(gaps, extra):
    ex = _filled_at(gaps)
    every = list(ex.fetch_fills())
    for since in _probes(ex, extra):
        assert list(ex.fetch_fills(since)) == [f for f in every if f.ts >= since], since


def test_fetch_fills_returns_a_new_list_each_call():
    ex = _filled_at([0, 1, 1])
    first = ex.fetch_fills(T0)
    assert isinstance(first, list)
    first.clear()  # type: ignore[attr-defined]
    assert len(ex.fetch_fills(T0)) == 3
    assert len(ex.fetch_fills()) == 3


def test_initial_margin_is_the_tier_of_the_position_notional():
    from dataclasses import replace

    from krakenbot.domain import MarginTier
    tiers = (MarginTier(from_notional_usd=0, initial=0.02, maintenance=0.01),
             MarginTier(from_notional_usd=20_000, initial=0.1, maintenance=0.05))
    clock = SimulatedClock(T0)
    ex = PaperExchange(instruments={"PF_XBTUSD": replace(btc_perp(), margin_tiers=tiers)}, fees=NO_SLIP, clock=clock,
                       initial_equity_usd=10_000)
    ex.update_market({"PF_XBTUSD": 30_000.0})
    ex.create_order(intent("a", OrderSide.BUY, "0.5", limit="31000"))  # 15k USD: first tier, 2 %
    assert ex.fetch_account().initial_margin_usd == pytest.approx(300)
    ex.create_order(intent("b", OrderSide.BUY, "0.5", limit="31000"))  # 30k USD: second tier, 10 % of all of it
    account = ex.fetch_account()
    assert account.initial_margin_usd == pytest.approx(3_000)
    assert account.maintenance_margin_usd == pytest.approx(1_500)


def test_positions_are_reported_again_only_for_the_symbol_that_moved():
    clock = SimulatedClock(T0)
    eth = make_perp("PF_ETHUSD", base="ETH", lot="0.01", tick="0.01")
    ex = PaperExchange(instruments={"PF_XBTUSD": btc_perp(), "PF_ETHUSD": eth}, fees=NO_SLIP, clock=clock,
                       initial_equity_usd=100_000)
    ex.update_market({"PF_XBTUSD": 30_000.0, "PF_ETHUSD": 2_000.0})
    ex.create_order(intent("a", OrderSide.BUY, "0.1", limit="31000"))
    ex.create_order(intent("b", OrderSide.SELL, "1", limit="1900", symbol="PF_ETHUSD"))
    eth_before, btc = ex.fetch_positions()  # sorted by symbol
    clock.advance(timedelta(minutes=1))
    ex.update_market({"PF_ETHUSD": 2_100.0})  # only ETH moved
    eth_after, btc_again = ex.fetch_positions()
    assert btc_again is btc  # O(changed): the unmoved symbol's report is kept
    assert eth_after is not eth_before and eth_after.mark_price == 2_100.0
    assert eth_after.ts_opened == eth_before.ts_opened == T0


def test_account_figures_are_figures_at_the_marks_bit_for_bit():
    """The account's equity and initial margin (kept per cash and version) are ``figures_at`` at the current marks,
    float for float, with two positions (one opened in two fills, one reduced) after marks moved."""
    clock = SimulatedClock(T0)
    eth = make_perp("PF_ETHUSD", base="ETH", lot="0.001", tick="0.01")
    ex = PaperExchange(instruments={"PF_XBTUSD": btc_perp(), "PF_ETHUSD": eth}, fees=NO_SLIP, clock=clock,
                       initial_equity_usd=10_000)
    ex.update_market({"PF_XBTUSD": 30_000.0, "PF_ETHUSD": 2_000.3})
    ex.create_order(intent("a", OrderSide.BUY, "0.0123", limit="31000"))
    ex.update_market({"PF_XBTUSD": 30_017.0})
    ex.create_order(intent("b", OrderSide.BUY, "0.0071", limit="31000"))
    ex.create_order(intent("c", OrderSide.SELL, "0.317", limit="1900", symbol="PF_ETHUSD"))
    ex.create_order(intent("d", OrderSide.BUY, "0.111", limit="2100", reduce_only=True, symbol="PF_ETHUSD"))
    ex.update_market({"PF_XBTUSD": 29_871.3, "PF_ETHUSD": 2_011.17})
    account = ex.fetch_account()
    equity, initial, _ = ex.figures_at({"PF_XBTUSD": 29_871.3, "PF_ETHUSD": 2_011.17})
    assert (account.equity_usd, account.initial_margin_usd) == (equity, initial)
    assert account.available_margin_usd == equity - initial


def _kept_answers_events(ex: PaperExchange, clock: SimulatedClock) -> list[tuple[str, Callable[[], object]]]:
    """Every kind of move of a paper account, in an order that keeps each one meaningful (name, the move)."""
    hour = timedelta(hours=1)
    return [
        ("mark", lambda: ex.update_market({"PF_XBTUSD": 30_100.0})),
        ("fill", lambda: ex.create_order(intent("a", OrderSide.BUY, "0.2", limit="31000"))),
        ("resting stop", lambda: ex.create_order(intent("s", OrderSide.SELL, "0.2", stop="29000", reduce_only=True,
                                                       order_type=OrderType.STOP))),
        ("mark", lambda: ex.update_market({"PF_XBTUSD": 30_250.0})),
        ("cancel", lambda: ex.cancel_order("s", "PF_XBTUSD")),
        ("clock", lambda: clock.advance(timedelta(minutes=7))),
        ("funding", lambda: (clock.advance(hour), ex.update_market({"PF_XBTUSD": 30_250.0}, {"PF_XBTUSD": 0.001}))),
        ("candle", lambda: (clock.advance(timedelta(minutes=1)),
                            ex.update_candles({"PF_XBTUSD": (30_200.0, 30_400.0, 30_000.0, 30_300.0)}))),
        ("settled funding", lambda: ex.settle_funding([(T0 + 2 * hour, "PF_XBTUSD", 3.0)], T0 + 3 * hour)),
        ("reduce", lambda: ex.create_order(intent("b", OrderSide.SELL, "0.05", limit="29000", reduce_only=True))),
        ("flip", lambda: ex.create_order(intent("c", OrderSide.SELL, "0.3", limit="29000"))),
        ("close", lambda: ex.create_order(intent("d", OrderSide.BUY, "0.15", limit="31000", reduce_only=True))),
    ]


def test_kept_account_positions_and_orders_follow_every_move():
    """The account, positions and open orders are answered from kept state: after each move (a fill, a mark, a
    cancel, the clock, funding paid by an update or settled, a candle) the kept answers equal those of an account
    that made the same moves and is read for the first time, and the equity and margin valued afresh
    (``figures_at``); a repeated read is kept."""
    ex, clock = paper()
    events = _kept_answers_events(ex, clock)
    for done, (name, move) in enumerate(events, start=1):
        move()
        account, positions, orders = ex.fetch_account(), ex.fetch_positions(), ex.fetch_open_orders()
        fresh, fresh_clock = paper()
        for _, fresh_move in _kept_answers_events(fresh, fresh_clock)[:done]:
            fresh_move()
        assert account == fresh.fetch_account(), name
        equity, initial, _ = ex.figures_at({"PF_XBTUSD": ex.mark("PF_XBTUSD")})  # valued now, nothing kept
        assert (account.equity_usd, account.initial_margin_usd) == (equity, initial), name
        assert account.ts == clock.now(), name
        assert positions == fresh.fetch_positions(), name
        assert orders == fresh.fetch_open_orders(), name
        assert ex.fetch_account() is account, name  # kept until the next move
        again = ex.fetch_positions()
        assert again == positions and again is not positions and all(
            kept is first for kept, first in zip(again, positions, strict=True)), name
    assert ex.funding_paid_usd != 0.0 and len(ex.fetch_fills()) == 4 and ex.fetch_positions() == []


@pytest.mark.parametrize("fee", [0.0, -0.0, 3e-9, 6e-9, 2.0**-9, 1e-5, 0.5, 15.0, 100.0, 14.999999712, -2.5e-7,
                                 9_999_999.999999998, 1e7, -1e7, 1.5e16, float("nan"), float("inf")])
def test_fee_decimal_is_the_repr_of_the_fee_rounded_to_8_decimals(fee):
    expected = Decimal(repr(round(fee, 8)))
    assert str(_fee_decimal(fee)) == str(expected) and _fee_decimal(fee).as_tuple() == expected.as_tuple()


@settings(max_examples=3000)
@given(st.one_of(st.floats(min_value=-1e7, max_value=1e7), st.floats(min_value=-1e-3, max_value=1e-3),
                 st.floats(allow_nan=False)))
def test_fee_decimal_has_the_digits_and_exponent_of_repr_round(fee):
    """The fee a fill reports: the same Decimal (digits and exponent, not only the value) as
    ``Decimal(repr(round(fee, 8)))``, the conversion it replaces, on every float."""
    assert _fee_decimal(fee).as_tuple() == Decimal(repr(round(fee, 8))).as_tuple()
