"""SqlStore order states: only ORDER_TRANSITIONS moves, intents before orders, open orders (both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from builders.clock import T0
from builders.exchange import intent, order_of
from krakenbot.domain import ORDER_TRANSITIONS, OrderSide, OrderStatus
from krakenbot.domain.errors import InvalidTransitionError
from krakenbot.store.sql import SqlStore, is_legal_transition

S = OrderStatus


def _statuses(store: SqlStore, cid: str) -> list[tuple[OrderStatus | None, OrderStatus]]:
    return [(e.from_status, e.to_status) for e in store.order_events(cid)]


def test_intent_is_stored_before_any_order_row_and_counts_as_an_open_intended_order(store: SqlStore) -> None:
    wish = intent("kb-1", OrderSide.BUY, "0.1", limit="20000")
    store.record_intent(wish, tick=3)

    [order] = store.open_orders()
    assert (order.client_order_id, order.status, order.size, order.limit_price) == ("kb-1", S.INTENDED,
                                                                                   wish.size, wish.limit_price)
    assert store.order("kb-1") == order
    assert store.orders([S.OPEN]) == []
    assert _statuses(store, "kb-1") == [(None, S.INTENDED)]


def test_order_without_a_stored_intent_is_refused(store: SqlStore) -> None:
    with pytest.raises(InvalidTransitionError, match="no intent"):
        store.record_order(order_of(intent("kb-9", OrderSide.BUY, "0.1"), S.SUBMITTED))
    assert store.orders() == []


def test_order_whose_symbol_or_side_differs_from_its_intent_is_refused(store: SqlStore) -> None:
    wish = intent("kb-1", OrderSide.BUY, "0.1")
    store.record_intent(wish)
    with pytest.raises(InvalidTransitionError, match="does not match its intent"):
        store.record_order(order_of(intent("kb-1", OrderSide.SELL, "0.1"), S.OPEN))
    assert store.order("kb-1") == order_of(wish, S.INTENDED, exchange_order_id=None)


def test_order_walks_legal_states_and_every_change_is_an_event(store: SqlStore) -> None:
    wish = intent("kb-1", OrderSide.BUY, "0.3", limit="20000")
    store.record_intent(wish)
    store.record_order(order_of(wish, S.SUBMITTED, exchange_order_id=None))
    store.record_order(order_of(wish, S.OPEN))
    store.record_order(order_of(wish, S.PARTIALLY_FILLED, filled="0.1", avg_price="19999.5"))
    store.record_order(order_of(wish, S.PARTIALLY_FILLED, filled="0.2", avg_price="19999.75"))
    last = order_of(wish, S.FILLED, filled="0.3", avg_price="19999.8333", ts=T0 + timedelta(seconds=3))
    store.record_order(last)

    assert store.order("kb-1") == last
    assert store.open_orders() == []
    assert store.orders([S.FILLED]) == [last]
    assert _statuses(store, "kb-1") == [(None, S.INTENDED), (S.INTENDED, S.SUBMITTED), (S.SUBMITTED, S.OPEN),
                                        (S.OPEN, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
                                        (S.PARTIALLY_FILLED, S.FILLED)]


def test_first_exchange_answer_may_be_any_state_a_sent_order_reaches(store: SqlStore) -> None:
    wish = intent("kb-1", OrderSide.BUY, "0.1", limit="20000")
    store.record_intent(wish)
    filled = order_of(wish, S.FILLED, filled="0.1", avg_price="20000")
    store.record_order(filled)  # the IOC answered filled: it was sent, so INTENDED -> FILLED is accepted

    assert store.order("kb-1") == filled
    assert _statuses(store, "kb-1") == [(None, S.INTENDED), (S.INTENDED, S.FILLED)]


def test_cancelled_order_may_still_turn_out_filled(store: SqlStore) -> None:
    wish = intent("kb-1", OrderSide.SELL, "0.1", limit="20000", reduce_only=True)
    store.record_intent(wish)
    store.record_order(order_of(wish, S.OPEN))
    store.record_order(order_of(wish, S.CANCELLED))
    store.record_order(order_of(wish, S.FILLED, filled="0.1", avg_price="20000"))

    assert store.order("kb-1") is not None
    assert store.order("kb-1").status is S.FILLED  # type: ignore[union-attr]
    assert _statuses(store, "kb-1")[-2:] == [(S.OPEN, S.CANCELLED), (S.CANCELLED, S.FILLED)]


@pytest.mark.parametrize(("stored", "new"), [(S.FILLED, S.OPEN), (S.FILLED, S.CANCELLED), (S.REJECTED, S.OPEN),
                                             (S.CANCELLED, S.OPEN), (S.OPEN, S.SUBMITTED),
                                             (S.OPEN, S.REJECTED), (S.EXPIRED, S.CANCELLED)])
def test_illegal_transition_raises_and_keeps_the_stored_state(store: SqlStore, stored: OrderStatus,
                                                               new: OrderStatus) -> None:
    wish = intent("kb-1", OrderSide.BUY, "0.1", limit="20000")
    store.record_intent(wish)
    kept = order_of(wish, stored, filled="0.1" if stored is S.FILLED else "0")
    store.record_order(kept)
    events_before = store.order_events("kb-1")

    with pytest.raises(InvalidTransitionError, match=f"{stored} -> {new}"):
        store.record_order(order_of(wish, new))
    assert store.order("kb-1") == kept
    assert store.order_events("kb-1") == events_before


def test_repeat_of_the_stored_state_is_a_no_op(store: SqlStore) -> None:
    wish = intent("kb-1", OrderSide.BUY, "0.1", limit="20000")
    store.record_intent(wish)
    filled = order_of(wish, S.FILLED, filled="0.1", avg_price="20000")
    store.record_order(filled)
    store.record_order(filled)
    waiting = intent("kb-2", OrderSide.BUY, "0.1")
    store.record_intent(waiting)
    store.record_order(order_of(waiting, S.INTENDED, exchange_order_id=None))

    assert store.order("kb-1") == filled
    assert len(store.order_events("kb-1")) == 2
    assert _statuses(store, "kb-2") == [(None, S.INTENDED)]


def test_filled_size_may_not_shrink(store: SqlStore) -> None:
    wish = intent("kb-1", OrderSide.BUY, "0.3", limit="20000")
    store.record_intent(wish)
    store.record_order(order_of(wish, S.PARTIALLY_FILLED, filled="0.2", avg_price="20000"))
    with pytest.raises(InvalidTransitionError, match="shrink"):
        store.record_order(order_of(wish, S.PARTIALLY_FILLED, filled="0.1", avg_price="20000"))
    assert store.order("kb-1").filled_size == order_of(wish, S.OPEN, filled="0.2").filled_size  # type: ignore[union-attr]


def test_open_orders_lists_intended_submitted_open_and_partial_but_not_done(store: SqlStore) -> None:
    wishes = {cid: intent(cid, OrderSide.BUY, "0.2", limit="20000") for cid in
              ("kb-intended", "kb-submitted", "kb-open", "kb-partial", "kb-filled", "kb-cancelled", "kb-rejected")}
    for wish in wishes.values():
        store.record_intent(wish)
    store.record_order(order_of(wishes["kb-submitted"], S.SUBMITTED, exchange_order_id=None))
    store.record_order(order_of(wishes["kb-open"], S.OPEN))
    store.record_order(order_of(wishes["kb-partial"], S.PARTIALLY_FILLED, filled="0.1", avg_price="20000"))
    store.record_order(order_of(wishes["kb-filled"], S.FILLED, filled="0.2", avg_price="20000"))
    store.record_order(order_of(wishes["kb-cancelled"], S.CANCELLED))
    store.record_order(order_of(wishes["kb-rejected"], S.REJECTED, exchange_order_id=None))

    assert [o.client_order_id for o in store.open_orders()] == ["kb-intended", "kb-submitted", "kb-open",
                                                                 "kb-partial"]
    assert [o.status for o in store.orders()] == [S.INTENDED, S.SUBMITTED, S.OPEN, S.PARTIALLY_FILLED, S.FILLED,
                                                  S.CANCELLED, S.REJECTED]


def test_adopt_order_stores_an_intent_standing_for_an_order_found_on_the_exchange(store: SqlStore) -> None:
    found = order_of(intent("kb-7", OrderSide.SELL, "0.5", limit="21000"), S.OPEN, exchange_order_id="X-7")
    store.adopt_order(found, reason="adopted_on_restart")

    adopted = store.intent("kb-7")
    assert adopted is not None
    assert (adopted.reason, adopted.side, adopted.size) == ("adopted_on_restart", OrderSide.SELL, found.size)
    assert store.open_orders() == [found]


def test_store_accepts_exactly_the_table_plus_sent_implied_moves() -> None:
    for previous, allowed in ORDER_TRANSITIONS.items():
        for new in OrderStatus:
            implied = previous is S.INTENDED and new in ORDER_TRANSITIONS[S.SUBMITTED]
            assert is_legal_transition(previous, new) is (new in allowed or implied), (previous, new)
