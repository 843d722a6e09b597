"""Restart reconciliation as a trader would check it: each situation after a crash, and what is done."""

from datetime import timedelta
from decimal import Decimal

from builders.clock import T0
from builders.exchange import intent
from krakenbot.domain import Fill, Order, OrderSide, OrderStatus, OrderType, Position, Side
from krakenbot.execution.reconcile import UNSTORED_SUFFIX, StoreView, VenueView, in_doubt, reconcile


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
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300"),
                               "kb-2": intent("kb-2", OrderSide.BUY, "0.1", stop="29000", order_type=OrderType.STOP)},
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


# -- a store that does not know orders or positions carrying our instance id (issue 11 item 6) --------------
def stop_order(cid: str, symbol: str = "PF_ETHUSD", size: str = "2") -> Order:
    return Order(client_order_id=cid, symbol=symbol, side=OrderSide.SELL, size=Decimal(size),
                 order_type=OrderType.STOP, reduce_only=True, status=OrderStatus.OPEN, ts_updated=T0,
                 stop_price=Decimal("2800"))


def lost_store_venue(*, with_fill: bool = True) -> VenueView:
    """An account holding our ETH long (entry kb-5, stop kb-6) that the store has never heard of."""
    fills = (fill("t5", "kb-5", OrderSide.BUY, "2", symbol="PF_ETHUSD"),) if with_fill else ()
    return VenueView(open_orders=(stop_order("kb-6"),), fills=fills, positions=(long(2.0, "PF_ETHUSD"),), lookups={})


def test_our_position_unknown_to_the_store_is_not_foreign_and_refuses():
    plan = reconcile(StoreView(intents={}, orders={}, fills=()), lost_store_venue(), prefix="kb")
    assert not plan.ok
    assert [p.symbol for p in plan.unknown_positions] == ["PF_ETHUSD"]
    assert [o.client_order_id for o in plan.unknown_orders] == ["kb-6"]
    assert plan.foreign_positions == () and plan.adopt_orders == ()
    assert plan.record_fills == ()  # recording them would make the symbol look known at the next start
    assert plan.unknown_detail() == ("position PF_ETHUSD long 2.0; PF_ETHUSD client ids kb-6 (stop sell 2), "
                                     "kb-5 (filled buy 2)")


def test_our_position_is_recognised_by_its_stop_alone():
    plan = reconcile(StoreView(intents={}, orders={}, fills=()), lost_store_venue(with_fill=False), prefix="kb")
    assert [p.symbol for p in plan.unknown_positions] == ["PF_ETHUSD"] and not plan.ok


def test_an_open_order_of_ours_without_a_stored_intent_is_never_adopted_silently():
    stored_fills = (fill("t1", "kb-1", OrderSide.BUY, "0.1"),)
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")},
                      orders={"kb-1": order("kb-1", OrderStatus.FILLED, filled="0.1")}, fills=stored_fills)
    other = order("kb-99", OrderStatus.OPEN, order_type=OrderType.LIMIT)  # another process, same instance id
    venue = VenueView(open_orders=(other,), fills=stored_fills, positions=(long(0.1),), lookups={})
    plan = reconcile(store, venue, prefix="kb")
    assert not plan.ok and plan.unknown_orders == (other,) and plan.adopt_orders == ()


def test_adopt_records_the_fills_and_the_stop_of_our_unknown_position():
    plan = reconcile(StoreView(intents={}, orders={}, fills=()), lost_store_venue(), prefix="kb", adopt=True)
    assert plan.ok and plan.unknown_positions == () and plan.unknown_orders == ()
    assert [o.client_order_id for o in plan.adopt_orders] == ["kb-6"]
    assert [f.trade_id for f in plan.record_fills] == ["t5"]
    assert plan.adjustments == ()  # the fills explain the position exactly


def test_adopt_adds_an_adjustment_where_the_fills_do_not_explain_the_position():
    plan = reconcile(StoreView(intents={}, orders={}, fills=()), lost_store_venue(with_fill=False), prefix="kb",
                     adopt=True)
    assert plan.ok
    (adj,) = plan.adjustments
    assert adj.symbol == "PF_ETHUSD" and adj.contracts == Decimal("2") and adj.price == Decimal("30000")


def test_repair_turns_a_mismatch_into_an_adjustment_to_the_exchange():
    stored_fills = (fill("t1", "kb-1", OrderSide.BUY, "0.1"), fill("t2", "kb-2", OrderSide.SELL, "0.1"))
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")},
                      orders={"kb-1": order("kb-1", OrderStatus.FILLED, filled="0.1")}, fills=stored_fills)
    venue = VenueView(open_orders=(), fills=stored_fills[:1], positions=(long(0.1),), lookups={})
    assert not reconcile(store, venue, prefix="kb").ok
    plan = reconcile(store, venue, prefix="kb", repair=True)
    assert plan.ok and plan.mismatches == ()
    (adj,) = plan.adjustments
    assert adj.symbol == "PF_XBTUSD" and adj.contracts == Decimal("0.1")


def test_fills_of_ours_on_a_symbol_now_flat_and_unknown_are_history_not_recorded():
    venue = VenueView(open_orders=(), fills=(fill("t3", "kb-3", OrderSide.SELL, "1", symbol="PF_SOLUSD"),),
                      positions=(), lookups={})
    plan = reconcile(StoreView(intents={}, orders={}, fills=()), venue, prefix="kb")
    assert plan.ok and plan.record_fills == () and plan.unknown_positions == ()


def test_a_truly_foreign_position_keeps_being_left_alone():
    venue = VenueView(open_orders=(stop_order("manual-1"),), fills=(fill("t4", "manual-0", OrderSide.BUY, "2",
                                                                          symbol="PF_ETHUSD"),),
                      positions=(long(2.0, "PF_ETHUSD"),), lookups={})
    plan = reconcile(StoreView(intents={}, orders={}, fills=()), venue, prefix="kb")
    assert plan.ok and [p.symbol for p in plan.foreign_positions] == ["PF_ETHUSD"] and plan.unknown_positions == ()


def test_a_protective_stop_placed_while_the_store_could_not_write_is_adopted_not_refused():
    """A full disk: the entry's intent was stored, its fill and the protective stop's intent were not."""
    store = StoreView(intents={"kb-1": intent("kb-1", OrderSide.BUY, "0.1", limit="30300")},
                      orders={}, fills=())
    protective = stop_order(f"kb-2{UNSTORED_SUFFIX}", symbol="PF_XBTUSD", size="0.1")
    lookalike = order(f"kb-3{UNSTORED_SUFFIX}", OrderStatus.OPEN, order_type=OrderType.LIMIT)  # not a stop
    venue = VenueView(open_orders=(protective, lookalike), fills=(fill("t1", "kb-1", OrderSide.BUY, "0.1"),),
                      positions=(long(0.1),), lookups={})
    plan = reconcile(store, venue, prefix="kb")
    assert protective in plan.adopt_orders and protective not in plan.unknown_orders
    assert plan.unknown_orders == (lookalike,) and not plan.ok  # the mark alone adopts nothing but such a stop
    without_lookalike = reconcile(store, VenueView(open_orders=(protective,), fills=venue.fills,
                                                   positions=venue.positions, lookups={}), prefix="kb")
    assert without_lookalike.ok and without_lookalike.adopt_orders == (protective,)
