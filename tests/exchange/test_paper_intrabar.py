"""Intrabar execution on planted candles: the conventions of ``krakenbot.exchange.intrabar``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from builders.account import btc_perp
from builders.clock import T0
from builders.exchange import intent
from krakenbot.config import FeesConfig
from krakenbot.domain import OrderSide, OrderStatus, OrderType, SimulatedClock
from krakenbot.exchange.intrabar import candle_path, reached
from krakenbot.exchange.paper import PaperExchange

SLIP = 0.001
FEES = FeesConfig(taker_fee_pct=0.0005, maker_fee_pct=0.0002, slippage_pct=SLIP)
NO_SLIP = FeesConfig(taker_fee_pct=0.0005, maker_fee_pct=0.0002, slippage_pct=0.0)
SYM = "PF_XBTUSD"


def opened(side: OrderSide, size: str, *, equity: float = 10_000, leverage: float = 50,
           fees: FeesConfig = NO_SLIP, stop: str | None = None) -> PaperExchange:
    """A paper account at mark 30,000 USD holding ``size`` BTC on ``side`` (entered at 30,000), with a
    reduce-only stop at ``stop`` USD when given."""
    ex = PaperExchange(instruments={SYM: btc_perp(max_leverage=leverage)}, fees=fees, clock=SimulatedClock(T0),
                       initial_equity_usd=equity)
    ex.update_market({SYM: 30_000.0})
    ex.create_order(intent("open", side, size, order_type=OrderType.MARKET))
    if stop is not None:
        ex.create_order(intent("stop", _other(side), size, stop=stop, reduce_only=True, order_type=OrderType.STOP))
    return ex


def _other(side: OrderSide) -> OrderSide:
    return OrderSide.SELL if side is OrderSide.BUY else OrderSide.BUY


# -- the path ------------------------------------------------------------------------------------
def test_path_visits_the_nearer_extreme_first_and_ties_go_against_the_position():
    assert candle_path((100.0, 101.0, 95.0, 100.0), 1) == (100.0, 101.0, 95.0, 100.0)
    assert candle_path((100.0, 105.0, 99.0, 100.0), -1) == (100.0, 99.0, 105.0, 100.0)
    tie = (100.0, 102.0, 98.0, 100.0)
    assert candle_path(tie, 1) == (100.0, 98.0, 102.0, 100.0)  # a long sees its low first
    assert candle_path(tie, 0) == (100.0, 98.0, 102.0, 100.0)
    assert candle_path(tie, -1) == (100.0, 102.0, 98.0, 100.0)  # a short sees its high first
    assert candle_path((float("nan"), float("nan"), float("nan"), 100.0), 0) == (100.0,) * 4
    assert candle_path((100.0, 101.0, 99.0, float("nan")), 0) is None
    assert reached(95.0, 100.0, 90.0, below=True) and not reached(100.0, 100.0, 90.0, below=True)


# -- stops ---------------------------------------------------------------------------------------
def test_a_wick_through_a_stop_that_closes_where_it_opened_stops_at_the_stop_price():
    ex = opened(OrderSide.BUY, "0.1", fees=FEES, stop="29400")  # 2 % stop
    ex.update_market({SYM: 30_000.0})
    assert ex.fetch_positions(), "a close at the open touches nothing"
    fills = ex.update_candles({SYM: (30_000.0, 30_100.0, 28_500.0, 30_000.0)})  # a 5 % wick
    assert [f.client_order_id for f in fills] == ["stop"]
    assert float(fills[0].price) == 29_370  # 29,400 less 0.1 % slippage, rounded down to the 1 USD tick
    assert not fills[0].is_maker
    assert ex.fetch_positions() == [] and ex.liquidations == 0
    assert ex.mark(SYM) == 30_000.0


def test_a_gap_through_a_stop_fills_at_the_open_less_slippage():
    ex = opened(OrderSide.BUY, "0.1", fees=FEES, stop="29400")
    fills = ex.update_candles({SYM: (28_000.0, 28_500.0, 27_800.0, 28_200.0)})
    assert [f.client_order_id for f in fills] == ["stop"]
    assert float(fills[0].price) == 27_972  # 28,000 x 0.999


def test_short_side_mirrors_a_wick_and_a_gap_through_a_buy_stop():
    ex = opened(OrderSide.SELL, "0.1", fees=FEES, stop="30600")
    fills = ex.update_candles({SYM: (30_000.0, 31_500.0, 29_900.0, 30_000.0)})
    assert [f.client_order_id for f in fills] == ["stop"] and float(fills[0].price) == 30_631  # 30,600 x 1.001 up
    gap = opened(OrderSide.SELL, "0.1", fees=FEES, stop="30600")
    fills = gap.update_candles({SYM: (32_000.0, 32_100.0, 31_900.0, 32_000.0)})
    assert float(fills[0].price) == 32_032  # the open 32,000 x 1.001


def test_a_candle_that_never_reaches_the_stop_leaves_it_resting():
    ex = opened(OrderSide.BUY, "0.1", stop="29400")
    assert ex.update_candles({SYM: (30_000.0, 30_500.0, 29_401.0, 29_500.0)}) == []
    assert ex.fetch_order_by_client_id("stop", SYM).status is OrderStatus.OPEN  # type: ignore[union-attr]


def test_a_cancelled_stop_is_neither_walked_through_nor_gapped_through():
    ex = opened(OrderSide.BUY, "0.1", stop="29400")
    ex.cancel_order("stop", SYM)
    assert ex.update_candles({SYM: (30_000.0, 30_100.0, 29_000.0, 29_900.0)}) == []  # a wick through its level
    assert ex.update_candles({SYM: (29_000.0, 29_100.0, 28_900.0, 29_000.0)}) == []  # a gap through it
    assert ex.fetch_positions()[0].size == 0.1
    assert ex.fetch_order_by_client_id("stop", SYM).status is OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_on_a_tie_the_stop_is_reached_before_the_take_profit():
    ex = opened(OrderSide.BUY, "0.1", stop="29500")
    ex.create_order(intent("tp", OrderSide.SELL, "0.1", limit="30500", reduce_only=True, order_type=OrderType.LIMIT))
    fills = ex.update_candles({SYM: (30_000.0, 31_000.0, 29_000.0, 30_000.0)})
    assert [f.client_order_id for f in fills] == ["stop"]
    assert ex.fetch_order_by_client_id("tp", SYM).status is OrderStatus.CANCELLED  # type: ignore[union-attr]


# -- liquidation ---------------------------------------------------------------------------------
def test_a_gap_through_liquidation_on_10x_liquidates_at_the_open_and_floors_equity_at_zero():
    ex = opened(OrderSide.BUY, "0.3", equity=1_000, leverage=10)  # 9,000 USD notional on 1,000 equity
    fills = ex.update_candles({SYM: (26_000.0, 26_500.0, 25_900.0, 26_200.0)})  # -13 % gap
    assert ex.liquidations == 1 and ex.fetch_positions() == []
    assert [f.client_order_id for f in fills] == ["liquidation-1"] and float(fills[0].price) == 26_000
    deficit = 1_000 - 0.3 * 30_000 * 0.0005 - 0.3 * 4_000 - 0.3 * 26_000 * 0.0005  # -208.4 USD
    assert ex.fetch_account().equity_usd == 0.0 and ex.cash_usd == 0.0
    assert ex.insurance_fund_usd == pytest.approx(-deficit)


def test_20x_long_with_a_1pct_stop_and_a_10pct_gap_is_liquidated_not_stopped():
    for update in ("tick", "candle"):
        ex = opened(OrderSide.BUY, "0.6", equity=1_000, leverage=20, stop="29700")  # 18,000 USD notional
        if update == "tick":
            fills = ex.update_market({SYM: 27_000.0})  # the minimal case: was equity -10,270 x 0.1
        else:
            fills = ex.update_candles({SYM: (27_000.0, 27_000.0, 27_000.0, 27_000.0)})
        assert [f.client_order_id for f in fills] == ["liquidation-1"], update
        assert ex.liquidations == 1 and ex.fetch_account().equity_usd >= 0.0
        assert ex.insurance_fund_usd > 0
        assert ex.fetch_order_by_client_id("stop", SYM).status is OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_20x_long_whose_candle_trades_down_through_its_1pct_stop_is_stopped_first():
    ex = opened(OrderSide.BUY, "0.6", equity=1_000, leverage=20, stop="29700")
    fills = ex.update_candles({SYM: (30_000.0, 30_000.0, 27_000.0, 27_000.0)})  # -10 %, no gap
    assert [f.client_order_id for f in fills] == ["stop"] and float(fills[0].price) == 29_700
    assert ex.liquidations == 0 and ex.insurance_fund_usd == 0.0


def test_liquidation_comes_before_a_stop_at_a_worse_price():
    ex = opened(OrderSide.BUY, "0.3", equity=1_000, leverage=10, stop="27500")
    fills = ex.update_candles({SYM: (30_000.0, 30_050.0, 27_000.0, 27_200.0)})
    # equity 995.5 + 0.3 (m - 30,000) meets maintenance 0.3 m x 5 % at m = 8,004.5 / 0.285 = 28,085.96
    assert [f.client_order_id for f in fills] == ["liquidation-1"]
    assert float(fills[0].price) == 28_085
    assert ex.liquidations == 1 and ex.insurance_fund_usd == 0.0
    assert ex.fetch_account().equity_usd == pytest.approx(995.5 + 0.3 * (28_085 - 30_000) - 0.3 * 28_085 * 0.0005)


def test_short_side_mirrors_liquidation_before_a_worse_stop_and_a_gap_through_liquidation():
    ex = opened(OrderSide.SELL, "0.3", equity=1_000, leverage=10, stop="32500")
    fills = ex.update_candles({SYM: (30_000.0, 33_000.0, 29_950.0, 32_800.0)})
    # 995.5 + 0.3 (30,000 - m) meets 0.3 m x 5 % at m = 9,995.5 / 0.315 = 31,731.75; a buy rounds up
    assert [f.client_order_id for f in fills] == ["liquidation-1"] and float(fills[0].price) == 31_732
    gap = opened(OrderSide.SELL, "0.3", equity=1_000, leverage=10)
    fills = gap.update_candles({SYM: (34_000.0, 34_100.0, 33_900.0, 34_000.0)})
    assert float(fills[0].price) == 34_000 and gap.liquidations == 1
    assert gap.cash_usd == 0.0 and gap.insurance_fund_usd == pytest.approx(
        -(1_000 - 4.5 - 0.3 * 4_000 - 0.3 * 34_000 * 0.0005))


def test_a_breach_on_one_symbols_path_liquidates_every_position_at_the_marks_then():
    eth = replace(btc_perp(max_leverage=10), symbol="PF_ETHUSD")
    ex = PaperExchange(instruments={SYM: btc_perp(max_leverage=10), "PF_ETHUSD": eth}, fees=NO_SLIP,
                       clock=SimulatedClock(T0), initial_equity_usd=2_000)
    ex.update_market({SYM: 30_000.0, "PF_ETHUSD": 2_000.0})
    ex.create_order(intent("a", OrderSide.BUY, "0.3", order_type=OrderType.MARKET))
    ex.create_order(intent("b", OrderSide.BUY, "4", order_type=OrderType.MARKET, symbol="PF_ETHUSD"))
    fills = ex.update_candles({SYM: (30_000.0, 30_000.0, 20_000.0, 20_000.0)})
    assert {f.symbol for f in fills} == {SYM, "PF_ETHUSD"} and ex.liquidations == 1
    assert float(next(f for f in fills if f.symbol == "PF_ETHUSD").price) == 2_000
