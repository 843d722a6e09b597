"""Restart reconciliation: what the store believes against what the exchange reports.

Pure: two views in, a plan out; the caller applies it (record, adopt, flag) or refuses to trade.
A position is what its fills say: the store's fills plus the exchange's recent fills (ours,
and others such as a liquidation or a manual trade on a symbol we trade), summed by trade id.

- our orders found on the exchange are adopted (stored with their current state);
- our intents the exchange never saw (no order, no lookup hit) are recorded as never sent;
- fills the store lacks are recorded (once, by trade id);
- a position the store held and the exchange no longer has is recorded closed when fills
  explain it (stop, liquidation, manual close);
- a position on a symbol we never traded is foreign: flagged and left alone;
- any other difference between the fills and the exchange's position is a mismatch, and the
  bot refuses to trade until an operator explains it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from krakenbot.domain import Fill, Order, OrderIntent, OrderSide, OrderStatus, Position


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
class ReconcilePlan:
    adopt_orders: tuple[Order, ...]
    never_sent: tuple[OrderIntent, ...]
    record_fills: tuple[Fill, ...]
    closed_positions: tuple[str, ...]
    foreign_positions: tuple[Position, ...]
    foreign_orders: tuple[Order, ...]
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        """True when every position is explained: trading may start."""
        return not self.mismatches

    def summary(self) -> str:
        return (f"Reconcile: {len(self.adopt_orders)} orders adopted, {len(self.never_sent)} intents never sent, "
                f"{len(self.record_fills)} fills recorded, {len(self.closed_positions)} positions closed on the "
                f"exchange, {len(self.foreign_positions)} foreign positions, {len(self.foreign_orders)} foreign "
                f"orders, {len(self.mismatches)} mismatches")


def in_doubt(store: StoreView) -> list[str]:
    """Client ids of our intents whose order the store has not seen reach a final state: look them up."""
    pending = (OrderStatus.INTENDED, OrderStatus.SUBMITTED)
    return sorted(cid for cid in store.intents if cid not in store.orders or store.orders[cid].status in pending)


def _signed(fill: Fill) -> Decimal:
    return fill.size if fill.side is OrderSide.BUY else -fill.size


def reconcile(store: StoreView, venue: VenueView, *, prefix: str) -> ReconcilePlan:
    """Compare the two views (see the module docstring). ``prefix`` marks our client order ids."""
    ours = f"{prefix}-"
    known = {f.trade_id for f in store.fills}
    traded = {i.symbol for i in store.intents.values()} | {f.symbol for f in store.fills}
    new_fills = sorted({f.trade_id: f for f in venue.fills
                        if f.trade_id not in known and (f.client_order_id.startswith(ours) or f.symbol in traded)
                        }.values(), key=lambda f: (f.ts, f.trade_id))
    adopt: dict[str, Order] = {}
    for order in venue.open_orders:
        if order.client_order_id.startswith(ours):
            adopt[order.client_order_id] = order
    for cid, found in venue.lookups.items():
        if found is not None and cid not in adopt:
            adopt[cid] = found
    filled_cids = {f.client_order_id for f in (*store.fills, *new_fills)}
    never = tuple(store.intents[cid] for cid in in_doubt(store)
                  if cid in venue.lookups and venue.lookups[cid] is None and cid not in adopt
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
    closed: list[str] = []
    foreign: list[Position] = []
    for symbol in sorted(set(expected) | set(venue_size)):
        want, have = expected.get(symbol, Decimal(0)), venue_size.get(symbol, Decimal(0))
        if symbol not in traded:
            foreign.extend(p for p in venue.positions if p.symbol == symbol)
            continue
        if want != have:
            mismatches.append(Mismatch(symbol=symbol, expected_contracts=want, venue_contracts=have,
                                       detail=f"{symbol}: fills say {want} contracts, the exchange holds {have}"))
        elif before.get(symbol, Decimal(0)) != 0 and have == 0:
            closed.append(symbol)
    foreign_orders = tuple(o for o in venue.open_orders if not o.client_order_id.startswith(ours))
    return ReconcilePlan(adopt_orders=tuple(adopt[c] for c in sorted(adopt)), never_sent=never,
                         record_fills=tuple(new_fills), closed_positions=tuple(closed),
                         foreign_positions=tuple(foreign), foreign_orders=foreign_orders,
                         mismatches=tuple(mismatches))
