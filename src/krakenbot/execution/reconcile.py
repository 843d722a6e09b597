"""Restart reconciliation: what the store believes against what the exchange reports.

Pure: two views in, a plan out; the caller applies it (record, adopt, flag) or refuses to trade.
A position is what its fills say: the store's fills plus the exchange's recent fills (ours,
and others such as a liquidation or a manual trade on a symbol we trade), summed by trade id.

- our orders found on the exchange whose intent the store holds are adopted (stored with their
  current state);
- orders of ours (client id ``prefix-``) whose intent the store never had, and positions on symbols
  the store never traded that carry our id (an open order or a fill of ours on the symbol), are
  *unknown*: another live process with the same instance id, or a new or lost store. The bot refuses
  to start on them until an operator adopts them (``adopt``) or stops the other process. One exception:
  a reduce-only stop whose id ends with ``UNSTORED_SUFFIX`` is the protective stop a run placed while
  its store could not write (a full disk): adopted like an order whose intent the store holds;
- our intents the exchange never saw (no order, no lookup hit) are recorded as never sent;
- fills the store lacks are recorded (once, by trade id);
- a position the store held and the exchange no longer has is recorded closed when fills
  explain it (stop, liquidation, manual close);
- a position on a symbol we never traded, without any id of ours, is foreign: flagged and left alone;
- fills of ours on a symbol the store never traded and that is flat now are history (a lost store's
  closed trades): not recorded;
- any other difference between the fills and the exchange's position is a mismatch, and the
  bot refuses to trade until an operator explains it, or ``repair`` makes the store's fills agree
  with the exchange (an adjustment: a fill the store records and the exchange never made).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from krakenbot.domain import Fill, Order, OrderIntent, OrderSide, OrderStatus, OrderType, Position


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreView:
    """What the store knows: every intent, the last stored state of each order, every fill."""

    intents: Mapping[str, OrderIntent]
    orders: Mapping[str, Order]
    fills: Sequence[Fill]


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueView:
    """What the exchange reports now. ``lookups``: our in-doubt orders looked up by client id
    (None when the exchange does not know the id)."""

    open_orders: Sequence[Order]
    fills: Sequence[Fill]
    positions: Sequence[Position]
    lookups: Mapping[str, Order | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Mismatch:
    symbol: str
    expected_contracts: Decimal
    venue_contracts: Decimal
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Adjustment:
    """Contracts (signed: + buys) the store records so that its fills add up to the exchange's position on
    ``symbol``, at ``price`` USD (the position's entry); written as a fill the exchange never made."""

    symbol: str
    contracts: Decimal
    price: Decimal
    why: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcilePlan:
    adopt_orders: tuple[Order, ...]
    never_sent: tuple[OrderIntent, ...]
    record_fills: tuple[Fill, ...]
    closed_positions: tuple[str, ...]
    foreign_positions: tuple[Position, ...]
    foreign_orders: tuple[Order, ...]
    mismatches: tuple[Mismatch, ...]
    unknown_positions: tuple[Position, ...] = ()
    unknown_orders: tuple[Order, ...] = ()
    unknown_fills: tuple[Fill, ...] = ()  # recent fills of ours on the unknown positions' symbols (not recorded)
    adjustments: tuple[Adjustment, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every position is explained and every order of ours is known: trading may start."""
        return not self.mismatches and not self.unknown

    @property
    def unknown(self) -> bool:
        """Orders or positions carrying our instance id that the store does not know."""
        return bool(self.unknown_positions or self.unknown_orders)

    def unknown_detail(self) -> str:
        """What was found that carries our id and the store does not know: symbol, side, size, client ids."""
        ids: dict[str, list[str]] = {}
        for o in self.unknown_orders:
            ids.setdefault(o.symbol, []).append(f"{o.client_order_id} ({o.order_type.value} {o.side.value} {o.size})")
        for f in self.unknown_fills:
            ids.setdefault(f.symbol, []).append(f"{f.client_order_id} (filled {f.side.value} {f.size})")
        parts = [f"position {p.symbol} {p.side.value} {p.size}" for p in self.unknown_positions]
        parts += [f"{symbol} client ids {', '.join(found)}" for symbol, found in sorted(ids.items())]
        return "; ".join(parts)

    def summary(self) -> str:
        return (f"Reconcile: {len(self.adopt_orders)} orders adopted, {len(self.never_sent)} intents never sent, "
                f"{len(self.record_fills)} fills recorded, {len(self.closed_positions)} positions closed on the "
                f"exchange, {len(self.foreign_positions)} foreign positions, {len(self.foreign_orders)} foreign "
                f"orders, {len(self.mismatches)} mismatches, {len(self.unknown_positions)} unknown positions and "
                f"{len(self.unknown_orders)} unknown orders of ours, {len(self.adjustments)} adjustments")


UNSTORED_SUFFIX = "-nostore"  # ends the id of a protective stop whose intent the store could not record


def is_unstored_stop(order: Order) -> bool:
    """A reduce-only stop we placed while the store could not write (its id ends with ``UNSTORED_SUFFIX``)."""
    return order.client_order_id.endswith(UNSTORED_SUFFIX) and order.reduce_only and order.order_type is OrderType.STOP


def in_doubt(store: StoreView) -> list[str]:
    """Client ids of our intents whose order the store has not seen reach a final state: look them up."""
    pending = (OrderStatus.INTENDED, OrderStatus.SUBMITTED)
    return sorted(cid for cid in store.intents if cid not in store.orders or store.orders[cid].status in pending)


def _signed(fill: Fill) -> Decimal:
    return fill.size if fill.side is OrderSide.BUY else -fill.size


def _evidence(venue: VenueView, ours: str) -> set[str]:
    """Symbols on which the exchange shows an order or a fill of ours."""
    return ({o.symbol for o in venue.open_orders if o.client_order_id.startswith(ours)}
            | {f.symbol for f in venue.fills if f.client_order_id.startswith(ours)})


def _price(symbol: str, venue: VenueView, fills: Sequence[Fill]) -> Decimal:
    """The price an adjustment is written at: the position's entry, else the symbol's last fill."""
    for p in venue.positions:
        if p.symbol == symbol and p.entry_price > 0:
            return Decimal(repr(p.entry_price))
    return next((f.price for f in reversed(fills) if f.symbol == symbol), Decimal(1))


def reconcile(store: StoreView, venue: VenueView, *, prefix: str, adopt: bool = False,
              repair: bool = False) -> ReconcilePlan:
    """Compare the two views (see the module docstring). ``prefix`` marks our client order ids.

    ``adopt``: take the unknown orders and positions of ours into the store (their orders adopted, their
    fills recorded, an adjustment where the fills do not add up to the position). ``repair``: every
    mismatch becomes an adjustment to what the exchange holds."""
    ours = f"{prefix}-"
    known = {f.trade_id for f in store.fills}
    traded = {i.symbol for i in store.intents.values()} | {f.symbol for f in store.fills}
    evidence = _evidence(venue, ours)
    unknown_syms = {p.symbol for p in venue.positions if p.symbol not in traded and p.symbol in evidence}
    unknown_orders = tuple(o for o in venue.open_orders if o.client_order_id.startswith(ours)
                           and o.client_order_id not in store.intents and not is_unstored_stop(o))
    if adopt:
        traded |= unknown_syms | {o.symbol for o in unknown_orders}
    new_fills = sorted({f.trade_id: f for f in venue.fills
                        if f.trade_id not in known and f.symbol in traded}.values(), key=lambda f: (f.ts, f.trade_id))
    adopt_map: dict[str, Order] = {}
    for order in venue.open_orders:
        if order.client_order_id.startswith(ours) and (adopt or order.client_order_id in store.intents
                                                       or is_unstored_stop(order)):
            adopt_map[order.client_order_id] = order
    for cid, found in venue.lookups.items():
        if found is not None and cid not in adopt_map:
            adopt_map[cid] = found
    filled_cids = {f.client_order_id for f in (*store.fills, *new_fills)}
    never = tuple(store.intents[cid] for cid in in_doubt(store)
                  if cid in venue.lookups and venue.lookups[cid] is None and cid not in adopt_map
                  and cid not in filled_cids)

    expected: dict[str, Decimal] = {}
    before: dict[str, Decimal] = {}
    for fill in store.fills:
        before[fill.symbol] = before.get(fill.symbol, Decimal(0)) + _signed(fill)
    expected.update(before)
    for fill in new_fills:
        expected[fill.symbol] = expected.get(fill.symbol, Decimal(0)) + _signed(fill)
    venue_size = {p.symbol: Decimal(repr(p.size)) * p.side.sign for p in venue.positions}

    mismatches: list[Mismatch] = []
    adjustments: list[Adjustment] = []
    closed: list[str] = []
    foreign: list[Position] = []
    for symbol in sorted(set(expected) | set(venue_size)):
        want, have = expected.get(symbol, Decimal(0)), venue_size.get(symbol, Decimal(0))
        if symbol not in traded:
            if symbol not in unknown_syms:
                foreign.extend(p for p in venue.positions if p.symbol == symbol)
            continue
        if want != have and (repair or (adopt and symbol in unknown_syms)):
            why = "adopted" if symbol in unknown_syms else f"repaired: fills said {want}, the exchange holds {have}"
            adjustments.append(Adjustment(symbol=symbol, contracts=have - want,
                                          price=_price(symbol, venue, (*store.fills, *new_fills)), why=why))
        elif want != have:
            mismatches.append(Mismatch(symbol=symbol, expected_contracts=want, venue_contracts=have,
                                       detail=f"{symbol}: fills say {want} contracts, the exchange holds {have}"))
        elif before.get(symbol, Decimal(0)) != 0 and have == 0:
            closed.append(symbol)
    foreign_orders = tuple(o for o in venue.open_orders if not o.client_order_id.startswith(ours))
    return ReconcilePlan(adopt_orders=tuple(adopt_map[c] for c in sorted(adopt_map)), never_sent=never,
                         record_fills=tuple(new_fills), closed_positions=tuple(closed),
                         foreign_positions=tuple(foreign), foreign_orders=foreign_orders,
                         mismatches=tuple(mismatches), adjustments=tuple(adjustments),
                         unknown_positions=() if adopt else tuple(p for p in venue.positions
                                                                   if p.symbol in unknown_syms),
                         unknown_orders=() if adopt else unknown_orders,
                         unknown_fills=() if adopt else tuple(f for f in venue.fills if f.symbol in unknown_syms
                                                              and f.client_order_id.startswith(ours)))
