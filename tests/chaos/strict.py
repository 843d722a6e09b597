"""The chaos soak's issue-12 behaviours of a strict Kraken (import as ``chaos.strict``): sendorder refusals with
any of Kraken's statuses, dead man's switch outages, stops cancelled on Kraken, partly filled triggered stops,
post-only contracts and instrument status pauses, drained rate-limit budgets, Kraken's fill types and funding.

``Strict.plan`` draws them before a tick, ``Strict.after_tick`` asserts what the bot must do about them after it
and counts what happened (``planned``, ``figures``) for the soak's printed figures. The checks that need a quiet
tick (stops back over every position) wait for the next settled tick: no injected fault, refusal or rate-limit
refusal in it, no order in doubt or hidden, no suspension or bad ticker in force.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

from chaos.episodes import LOT
from faults.loopback import BTC, ETH, PREFIX, Bot
from krakenbot.domain import OrderStatus
from krakenbot.domain.vocabulary import EventKind
from krakenbot.execution.reconcile import UNSTORED_SUFFIX
from krakenbot.testing.fake_kraken_statuses import DESCRIBED_STATUSES, SEND_STATUSES

SYMBOLS = (BTC, ETH)
STATUSES = SEND_STATUSES + DESCRIBED_STATUSES  # Kraken's whole list, acceptance statuses (no order) included
FILL_KINDS = ("liquidation", "taker", "assignor", "unwindCounterparty")
REFUSAL_RATE = 0.3  # chance a slow tick meets a refusal
RATE = {"dms_outage": 0.008, "stop_cancelled": 0.02, "stop_partial": 0.02, "rate_limit_drained": 0.02,
        "post_only": 0.008, "instrument_status": 0.008}


def entries(bot: Bot, symbol: str, since: int = 0) -> list[str]:
    """Our non-reduce-only IOCs (entries) sent on ``symbol``, from the ``since``-th sendorder on."""
    return [str(r.param("cliOrdId")) for r in bot.sent()[since:] if r.param("symbol") == symbol
            and r.param("orderType") == "ioc" and (r.param("reduceOnly") or "false") == "false"]


class Strict:
    """Plans and checks the issue-12 behaviours of one soak run."""

    def __init__(self, bot: Bot, rng: random.Random, history: list[str]) -> None:
        self.bot, self.fake, self.rng = bot, bot.fake, rng
        self.history = history  # "tick: behaviour", shared with the episodes, for a failure's message
        self.planned: Counter[str] = Counter()
        self.figures: Counter[str] = Counter()
        self.errors: list[str] = []
        self.funding = (Decimal(0), Decimal(0))  # USD funding Kraken settled into the balance, and still unsettled
        self.cover_due: list[str] = []  # why every position must have its stops back at the next settled tick
        self.paused: dict[str, tuple[str, int]] = {}  # symbol -> (post_only | instrument_status, last tick)
        self._sent = self._refusals = self._limited = 0
        self._drain = False  # drain the budgets at the tick's time (they refill 50 units a second)
        for symbol in SYMBOLS:  # funding accrues on every position, either way
            self.fake.set_funding_rate(symbol, rng.choice((-1, 1)) * rng.uniform(1e-5, 2e-4))

    @property
    def limit_refusals(self) -> int:
        return self.fake.limits.derivatives.refused + self.fake.limits.history.refused

    def served(self) -> int:
        """Refusals and rate-limit refusals served so far (an injected fault each)."""
        return len(self.fake.refusals.served) + self.limit_refusals

    # -- before the tick --------------------------------------------------------------------------
    def plan(self, tick: int, *, slow: bool, quiet: bool) -> None:
        """``slow``: the tick runs a slow tick; ``quiet``: no episode runs (an outage would cancel another
        process's order an episode placed; a cancelled stop would race its checks)."""
        rng, fake = self.rng, self.fake
        for symbol, (name, until) in list(self.paused.items()):
            if until <= tick:
                self._unpause(symbol, name)
        if slow and rng.random() < REFUSAL_RATE:
            status, symbol = rng.choice(STATUSES), rng.choice(SYMBOLS)
            fake.refuse_next(status, symbol=symbol)
            self._note(tick, "refusal", f"{status} {symbol}")
        if quiet and rng.random() < RATE["dms_outage"]:  # silent longer than the switch: Kraken cancels all
            self._note(tick, "dms_outage")
            self.bot.clock.advance(timedelta(seconds=self.bot.cfg.loop.dead_man_switch_seconds + rng.randint(5, 90)))
            self.cover_due.append(f"{tick}: dms_outage")
        if quiet and rng.random() < RATE["stop_cancelled"] and fake.book.cancel_races_fill == 0:
            self._cancel_a_stop(tick)
        if rng.random() < RATE["stop_partial"]:
            self._stop_through(tick)
        if rng.random() < RATE["rate_limit_drained"]:
            self._note(tick, "rate_limit_drained")
            self._drain = True
        for name in ("post_only", "instrument_status"):
            if rng.random() < RATE[name] and not self.paused:
                symbol = rng.choice(SYMBOLS)
                self._note(tick, name, symbol)
                self.paused[symbol] = (name, tick + rng.randint(4, 12))
                if name == "post_only":
                    fake.set_post_only(symbol, True)
                else:
                    fake.set_instrument_status(symbol, extreme_volatility=True, multiplier=rng.choice((1.5, 3.0)))
        self._sent, self._refusals, self._limited = len(self.bot.sent()), len(fake.refusals.served), \
            self.limit_refusals

    def at_tick(self) -> None:
        """The tick's clock has moved on: a burst by another program on the same key empties both budgets."""
        if self._drain:
            self._drain = False
            self.fake.drain_rate_limit()
            self.fake.drain_rate_limit("history")

    def wait_out_rate_limits(self) -> None:
        """A supervisor gave up restarting for a while: both budgets are full again."""
        with self.fake._lock:
            for bucket in (self.fake.limits.derivatives, self.fake.limits.history):
                bucket.level = bucket.capacity
        self.figures["rate_limits_waited_out"] += 1

    def _note(self, tick: int, name: str, what: str = "") -> None:
        self.planned[name] += 1
        self.history.append(f"{tick}: {name} {what}".rstrip())

    def close_kind(self) -> str:
        """A liquidation or manual close's fill type: one of Kraken's."""
        kind = self.rng.choice(FILL_KINDS)
        self.figures[f"close_{kind}"] += 1
        return kind

    def _unpause(self, symbol: str, name: str) -> None:
        if name == "post_only":
            self.fake.set_post_only(symbol, False)
        else:
            self.fake.set_instrument_status(symbol, extreme_volatility=False, multiplier=1.0)
        del self.paused[symbol]

    def _our_stops(self, symbol: str, *, placed_before: datetime | None = None) -> list[tuple[str, Decimal]]:
        with self.fake._lock:
            return [(o.cli_ord_id, o.stop_price) for o in self.fake.book.orders.values()
                    if o.symbol == symbol and o.is_trigger and o.closed_at is None and o.cli_ord_id
                    and o.cli_ord_id.startswith(PREFIX) and o.stop_price is not None
                    and (placed_before is None or o.received < placed_before)]

    def _cancel_a_stop(self, tick: int) -> None:
        """Kraken cancels one of our stops between ticks (an operator, a maintenance): back after the next tick,
        also one the bot never saw listed (``sync_stops`` asks for the status of a stop not listed yet)."""
        old = self.fake.now()
        held = [s for s in self.bot.exchange_positions() if self._our_stops(s, placed_before=old)]
        if not held:
            return
        symbol = self.rng.choice(held)
        cid, _ = self._our_stops(symbol, placed_before=old)[0]
        with self.fake._lock:
            self.fake.book.cancel_order({"cliOrdId": cid}, self.fake.now())
        self._note(tick, "stop_cancelled", symbol)
        self.cover_due.append(f"{tick}: stop_cancelled {symbol} {cid}")

    def _stop_through(self, tick: int) -> None:
        """The mark moves just through a held position's stop while the book is thin (half the position): the
        triggered stop fills partly; the book refills before the tick. The remainder must be closed or
        protected after the next tick."""
        positions = self.bot.exchange_positions()
        held = [s for s in positions if self._our_stops(s) and s not in self.fake.book.liquidity]
        if not held:
            return
        symbol = self.rng.choice(held)
        size = positions[symbol]
        _, stop = self._our_stops(symbol)[0]
        self._note(tick, "stop_partial", symbol)
        before = abs(size)
        lot = LOT[symbol]  # Kraken fills whole contract steps only
        self.fake.set_liquidity(symbol, float(max(lot, (abs(size) / 2 / lot).to_integral_value() * lot)))
        self.fake.set_mark(symbol, float(stop) * (0.995 if size > 0 else 1.005))
        self.fake.set_liquidity(symbol, None)
        after = abs(self.bot.exchange_positions().get(symbol, Decimal(0)))
        if 0 < after < before:
            self.figures["stops_filled_partly"] += 1
        self.cover_due.append(f"{tick}: stop_partial {symbol} {size} -> {after}")

    # -- after the tick ---------------------------------------------------------------------------
    def after_tick(self, tick: int, *, failed: str | None, injected: int, settled: bool) -> None:
        """``injected``: the soak's own faults served in the tick; ``settled``: none of those, nothing hidden or
        in doubt. Refusals and rate-limit refusals of the tick are counted here."""
        bot, fake = self.bot, self.fake
        refused = fake.refusals.served[self._refusals:]
        limited = self.limit_refusals - self._limited
        self.figures["refusals_served"] += len(refused)
        self.figures["rate_limit_refusals"] += limited
        if failed is not None and refused and not injected and not limited:
            self.errors.append(f"tick {tick}: a tick failed with only a refusal {refused} in it: {failed}")
        if refused and failed is None:
            executor = bot.live.executor
            with fake._lock:
                placed = set(fake.book.by_cli)
            for cid in {str(r.param("cliOrdId")) for r in bot.sent()[self._sent:]} - placed:
                if cid.endswith(UNSTORED_SUFFIX):  # a stop sent with the disk full: no intent stored, by design
                    self.figures["refused_unstored_stops"] += 1
                    continue
                order = bot.store.order(cid)
                status = order.status if order is not None else None
                # iocWouldNotExecute: an IOC cancelled unfilled (KrakenClient.create_order), as good as refused
                unfilled = status is OrderStatus.CANCELLED and order is not None and order.filled_size == 0
                assert status is OrderStatus.REJECTED or unfilled or cid in executor.in_doubt, (
                    f"refused {cid} ({refused}) stored {status}, not refused nor in doubt")
                self.figures["refused_orders_checked"] += 1
        for symbol, (name, _) in self.paused.items():
            sent = entries(bot, symbol, self._sent)
            paused = symbol in bot.live._state.market_pauses
            if name == "post_only" or paused:
                assert not sent, f"tick {tick}: entry {sent} sent on {symbol} while {name}"
                self.figures[f"{name}_paused_ticks"] += 1
            other = ETH if symbol == BTC else BTC
            self.figures["entries_beside_a_pause"] += len(entries(bot, other, self._sent))
        if self.cover_due and failed is None and settled and not limited and not refused:
            for symbol, size in bot.exchange_positions().items():
                stops = bot.open_stops(symbol)
                assert sum(stops) >= abs(size), (
                    f"tick {tick}: {symbol} {size} not covered by its stops {stops} after {self.cover_due}")
            self.figures["stops_back_checked"] += len(self.cover_due)
            self.cover_due.clear()

    def finish(self) -> None:
        """The run is over: counts from the store and the fake."""
        for symbol, (name, _) in list(self.paused.items()):
            self._unpause(symbol, name)
        self.figures["dead_man_switch_fired"] += len(self.bot.store.events(EventKind.DEAD_MAN_SWITCH_FIRED.value))
        self.figures["stop_partial_events"] += len(self.bot.store.events(EventKind.STOP_PARTIAL.value))
        self.figures["stop_missing_events"] += len(self.bot.store.events(EventKind.STOP_MISSING.value))
        with self.fake._lock:
            self.funding = (self.fake.funding.settled_usd, self.fake.funding.unrealized_usd())
