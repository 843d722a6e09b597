"""PositionBook: the loop's one view of its positions, their stops and scores, and why each order went out.

The exchange is the truth; the book reads it at most once per tick (account and positions), and
again only after something changed it (an order of ours, a fill found by a poll or a market
update). Everything it keeps is bounded: per symbol of the universe, or the newest
``max_reasons`` orders.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import fields
from datetime import datetime
from operator import is_not

from krakenbot.domain import AccountState, Order, OrderType, Position
from krakenbot.domain.frozen import new
from krakenbot.domain.vocabulary import OrderReason
from krakenbot.exchange.base import Exchange
from krakenbot.execution.executor import ExecutionResult

MAX_REASONS = 10_000  # orders whose reason is remembered (a resting stop's fill is labelled by it)
_STOP = OrderType.STOP  # read once: on Python 3.11 an Enum's class attribute costs about a function call


class PositionBook:
    """Positions on the ``traded`` symbols, valued at ``marks`` (the market step's latest good marks,
    a live view), with the stop price and entry score the loop gave each one."""

    def __init__(self, exchange: Exchange, traded: frozenset[str], marks: Mapping[str, float], *,
                 max_reasons: int = MAX_REASONS) -> None:
        self._exchange = exchange
        self._traded = traded
        self._marks = marks
        self._max_reasons = max_reasons
        self._account: AccountState | None = None
        self._positions: list[Position] | None = None
        self._positions_read: list[Position] | None = None  # the latest read, kept across ``changed``
        self._valued: list[Position] | None = None  # ``_positions_read`` valued at the marks and scores they carry
        self._stops: dict[str, float] = {}  # futures symbol -> stop price of its position
        self._scores: dict[str, float] = {}  # futures symbol -> score of the signal it was opened on
        self._reasons: OrderedDict[str, OrderReason | str] = OrderedDict()  # client order id -> why, newest last
        self._stop_orders: dict[str, Order] = {}  # futures symbol -> the newest stop we placed on it, as recorded
        self._unlisted: dict[str, Order] = {}  # futures symbol -> our newest stop accepted, not yet seen listed
        self.reads = 0  # account and positions requests made (a slow tick's cost, live: HTTP calls)

    # -- what the exchange holds ----------------------------------------------------------------
    def begin_tick(self) -> None:
        """Time has passed: the next reads ask the exchange again."""
        self.changed()

    def changed(self) -> None:
        """Something changed the account (an order, a fill): the next reads ask the exchange again."""
        self._account = None
        self._positions = None

    @property
    def last_account(self) -> AccountState | None:
        """The account as last read, when nothing changed it since (None: the next ``account()`` asks)."""
        return self._account

    def account(self) -> AccountState:
        """The account's margin picture, read once until the next change. Raises ``TransientError``."""
        if self._account is None:
            self._account = self._exchange.fetch_account()
            self.reads += 1
        return self._account

    def positions(self) -> list[Position]:
        """Open positions on the traded symbols (foreign ones are never touched), valued at the latest
        marks and carrying the scores they were opened on. Read once until the next change."""
        if self._positions is None:
            read = [p for p in self._exchange.fetch_positions() if p.symbol in self._traded]
            before = self._positions_read
            # the exchange reported the very same positions (an exchange that keeps its reports: the paper one)
            if before is None or len(before) != len(read) or any(map(is_not, before, read)):
                self._valued = None
            self._positions = self._positions_read = read
            self.reads += 1
        positions = self._positions
        if not positions:
            return []
        # Valued anew only when a mark or score moved since the last call (``replace`` costs per position): each
        # valued position carries the mark and score it was valued at. (A loop, not a key built per call: this
        # runs several times per tick, and a comprehension costs a function object and a frame each time.)
        marks, scores = self._marks, self._scores
        valued = self._valued
        if valued is not None:
            for i, position in enumerate(positions):
                kept = valued[i]
                if (marks.get(position.symbol, position.mark_price) != kept.mark_price
                        or scores.get(position.symbol, position.score) != kept.score):
                    break
            else:
                return list(valued)
        valued = self._valued = [_revalued(p, marks.get(p.symbol, p.mark_price), scores.get(p.symbol, p.score))
                                 for p in positions]
        return list(valued)

    # -- what the loop decided about them ---------------------------------------------------------
    def opened(self, symbol: str, *, stop_price: float, score: float) -> None:
        """A position was entered on ``symbol``: its protective stop level and the score it won with."""
        self._stops[symbol] = stop_price
        self._scores[symbol] = score

    def stop_price(self, symbol: str) -> float | None:
        return self._stops.get(symbol)

    def set_stop_price(self, symbol: str, price: float) -> None:
        self._stops[symbol] = price

    def forget(self, symbol: str) -> None:
        """``symbol`` is flat: its stop level no longer applies."""
        self._stops.pop(symbol, None)
        self._unlisted.pop(symbol, None)

    # -- stops Kraken accepted that its lookups do not show yet -------------------------------------
    def unlisted_stops(self, listed: Collection[str], *, placed_since: datetime) -> dict[str, Order]:
        """Our stops the exchange accepted (``remember``) that its open orders, whose client ids are
        ``listed``, do not show yet, placed at or after ``placed_since``: Kraken's lookups lag its
        matching engine, so these still stand. A stop once seen listed, or older, is no longer kept:
        from then on, missing from the open orders means gone."""
        self._unlisted = {symbol: order for symbol, order in self._unlisted.items()
                          if order.client_order_id not in listed and order.ts_updated >= placed_since}
        return dict(self._unlisted)

    def forget_unlisted(self, symbol: str) -> None:
        """``symbol``'s stop not listed yet is known to be gone (its status says so)."""
        self._unlisted.pop(symbol, None)

    def stops_may_be_gone(self) -> None:
        """Every order of ours may have been cancelled (the dead man's switch): a stop not yet seen listed
        no longer counts as standing."""
        self._unlisted.clear()

    # -- why orders went out ----------------------------------------------------------------------
    def remember(self, result: ExecutionResult) -> None:
        """Note why ``result``'s order was sent (the newest ``max_reasons`` are kept); an order sent
        means the account changed."""
        order = result.order
        if order is None:
            return
        cid = order.client_order_id
        if order.order_type is _STOP:
            self._stop_orders[order.symbol] = order
            if not order.is_done:
                self._unlisted[order.symbol] = order
        self._reasons[cid] = result.reason
        self._reasons.move_to_end(cid)
        while len(self._reasons) > self._max_reasons:
            self._reasons.popitem(last=False)
        self.changed()

    def reason_of(self, client_order_id: str) -> OrderReason | str:
        """Why ``client_order_id`` was sent; a fill no order of ours explains is a liquidation or external."""
        return self._reasons.get(client_order_id) or OrderReason.of_unasked_fill(client_order_id)

    def stop_order(self, client_order_id: str) -> Order | None:
        """The stop ``client_order_id`` as last recorded, when it is the newest stop we placed on its symbol."""
        return next((o for o in self._stop_orders.values() if o.client_order_id == client_order_id), None)

    def stop_order_changed(self, order: Order) -> None:
        """``order`` (a stop of ours) was recorded in a new state (e.g. filled)."""
        if self.stop_order(order.client_order_id) is not None:
            self._stop_orders[order.symbol] = order


_POSITION_FIELDS = frozenset(f.name for f in fields(Position) if f.init)
_SPELLED_OUT = frozenset({"symbol", "side", "size", "entry_price", "ts_opened", "mark_price", "liquidation_price",
                          "leverage", "contract_size", "score", "unrealized_funding_usd"})
assert _POSITION_FIELDS == _SPELLED_OUT, "Position's fields changed: spell them out in _revalued"


def _revalued(position: Position, mark: float | None, score: float | None) -> Position:
    """``replace(position, mark_price=mark, score=score)`` with the fields spelled out (validated alike), built
    without ``type.__call__``'s keyword dict (``domain.frozen``)."""
    valued = new(Position)
    Position.__init__(valued, symbol=position.symbol, side=position.side, size=position.size,
                      entry_price=position.entry_price, ts_opened=position.ts_opened, mark_price=mark,
                      liquidation_price=position.liquidation_price, leverage=position.leverage,
                      contract_size=position.contract_size, score=score,
                      unrealized_funding_usd=position.unrealized_funding_usd)
    return valued
