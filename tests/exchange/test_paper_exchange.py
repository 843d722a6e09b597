"""PaperExchange accounting: fees, PnL, funding and liquidation as a Kraken flex account would."""

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders.account import btc_perp
from builders.clock import T0
from builders.exchange import intent
from krakenbot.config import FeesConfig
from krakenbot.domain import OrderSide, SimulatedClock
from krakenbot.exchange.paper import PaperExchange

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
