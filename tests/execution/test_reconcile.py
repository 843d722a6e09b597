"""Restart reconciliation as a trader would check it: each situation after a crash, and what is done."""

from datetime import timedelta
from decimal import Decimal

from builders.clock import T0
from builders.exchange import intent
from krakenbot.domain import Fill, Order, OrderSide, OrderStatus, OrderType, Position, Side
from krakenbot.execution.reconcile import StoreView, VenueView, in_doubt, reconcile


def fill(trade_id: str, cid: str, side: OrderSide, size: str, symbol: str = "PF_XBTUSD") -> Fill:
    return Fill(trade_id=trade_id, client_order_id=cid, symbol=symbol, side=side, size=Decimal(size),
                price=Decimal("30000"), fee_usd=Decimal("1"), ts=T0 + timedelta(seconds=int(trade_id[1:])))


def order(cid: str, status: OrderStatus, *, filled: str = "0", order_type: OrderType = OrderType.IOC) -> Order:
    return Order(client_order_id=cid, symbol="PF_XBTUSD", side=OrderSide.BUY, size=Decimal("0.1"),
                 order_type=order_type, reduce_only=False, status=status, ts_updated=T0, filled_size=Decimal(filled))


def long(size: float, symbol: str = "PF_XBTUSD") -> Position:
    return Position(symbol=symbol, side=Side.LONG, size=size, entry_price=30_000, ts_opened=T0)


def test_order_sent_but_answer_lost_is_adopted_with_its_fill():
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")}, orders={}, fills=())
    venue = VenueView(open_orders=(), fills=(fill("t1", "kb-1", OrderSide.BUY, "0.1"),), positions=(long(0.1),),
                      lookups={"kb-1": order("kb-1", OrderStatus.FILLED, filled="0.1")})
    plan = reconcile(store, venue, prefix="kb")
    assert plan.ok
    assert [o.client_order_id for o in plan.adopt_orders] == ["kb-1"]
    assert [f.trade_id for f in plan.record_fills] == ["t1"]
    assert plan.never_sent == ()


def test_intent_the_exchange_never_saw_is_recorded_never_sent():
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")}, orders={}, fills=())
    venue = VenueView(open_orders=(), fills=(), positions=(), lookups={"kb-1": None})
    plan = reconcile(store, venue, prefix="kb")
    assert plan.ok
    assert [i.client_order_id for i in plan.never_sent] == ["kb-1"]


def test_stop_hit_while_down_is_recorded_as_closed():
    stored_fills = (fill("t1", "kb-1", OrderSide.BUY, "0.1"),)
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")},
                      orders={"kb-1": order("kb-1", OrderStatus.FILLED, filled="0.1")}, fills=stored_fills)
    venue = VenueView(open_orders=(), fills=(*stored_fills, fill("t2", "kb-2", OrderSide.SELL, "0.1")), positions=(),
                      lookups={})
    plan = reconcile(store, venue, prefix="kb")
    assert plan.ok
    assert plan.closed_positions == ("PF_XBTUSD",)
    assert [f.trade_id for f in plan.record_fills] == ["t2"]


def test_liquidation_fill_without_our_id_explains_the_close():
    stored_fills = (fill("t1", "kb-1", OrderSide.BUY, "0.1"),)
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")},
                      orders={"kb-1": order("kb-1", OrderStatus.FILLED, filled="0.1")}, fills=stored_fills)
    venue = VenueView(open_orders=(), fills=(fill("t9", "", OrderSide.SELL, "0.1"),), positions=(), lookups={})
    plan = reconcile(store, venue, prefix="kb")
    assert plan.ok and plan.closed_positions == ("PF_XBTUSD",)


def test_foreign_position_and_order_are_flagged_and_left_alone():
    store = StoreView(intents={}, orders={}, fills=())
    foreign_order = Order(client_order_id="manual-7", symbol="PF_ETHUSD", side=OrderSide.SELL, size=Decimal("1"),
                          order_type=OrderType.LIMIT, reduce_only=False, status=OrderStatus.OPEN, ts_updated=T0)
    venue = VenueView(open_orders=(foreign_order,), fills=(), positions=(long(2.0, "PF_ETHUSD"),), lookups={})
    plan = reconcile(store, venue, prefix="kb")
    assert plan.ok
    assert [p.symbol for p in plan.foreign_positions] == ["PF_ETHUSD"]
    assert plan.foreign_orders == (foreign_order,)
    assert plan.adopt_orders == ()


def test_unexplained_position_refuses_to_trade():
    stored_fills = (fill("t1", "kb-1", OrderSide.BUY, "0.1"),)
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")},
                      orders={"kb-1": order("kb-1", OrderStatus.FILLED, filled="0.1")}, fills=stored_fills)
    venue = VenueView(open_orders=(), fills=(), positions=(long(0.25),), lookups={})
    plan = reconcile(store, venue, prefix="kb")
    assert not plan.ok
    (mismatch,) = plan.mismatches
    assert mismatch.expected_contracts == Decimal("0.1") and mismatch.venue_contracts == Decimal("0.25")


def test_our_resting_stop_is_adopted_and_fills_are_never_counted_twice():
    stored_fills = (fill("t1", "kb-1", OrderSide.BUY, "0.1"),)
    stop = order("kb-2", OrderStatus.OPEN, order_type=OrderType.STOP)
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")},
                      orders={"kb-1": order("kb-1", OrderStatus.FILLED, filled="0.1")}, fills=stored_fills)
    venue = VenueView(open_orders=(stop,), fills=stored_fills * 2, positions=(long(0.1),), lookups={})
    plan = reconcile(store, venue, prefix="kb")
    assert plan.ok and plan.record_fills == ()
    assert plan.adopt_orders == (stop,)


def test_in_doubt_lists_intents_without_a_final_order_state():
    store = StoreView(intents={c: intent(c, OrderSide.BUY, "0.1", limit="30300") for c in ("kb-1", "kb-2", "kb-3")},
                      orders={"kb-2": order("kb-2", OrderStatus.SUBMITTED), "kb-3": order("kb-3", OrderStatus.FILLED)},
                      fills=())
    assert in_doubt(store) == ["kb-1", "kb-2"]
