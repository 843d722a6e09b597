"""``SqlStore``: the ``Journal`` on a database (SQLite file by default, PostgreSQL by URL), plus the reads
restart reconciliation needs.

Every write is one transaction, committed before the method returns, or rolled back and
reported as ``StoreError`` (a ``FatalError``): nothing is ever half-written. Order states
move only along ``ORDER_TRANSITIONS``; fills are kept once per exchange trade id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from krakenbot.domain import ORDER_TRANSITIONS, AccountState, Fill, Order, OrderIntent, OrderStatus, Position
from krakenbot.domain.errors import STORE_WRITE_ADVICE, ConfigError, InvalidTransitionError, StoreError, StoreWriteError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.vocabulary import OPERATOR_EVENTS, EventKind
from krakenbot.logs import redact
from krakenbot.store import rows
from krakenbot.store import schema as t
from krakenbot.store.engine import create_store_engine, migrate, read_transaction, safe_url, to_json, write_transaction
from krakenbot.store.rows import AuctionPlanRecord, OrderEvent

log = logging.getLogger(__name__)

# Not yet known to be done: an intent not sent, a request without answer, a resting order.
OPEN_STATUSES = frozenset({OrderStatus.INTENDED, OrderStatus.SUBMITTED, OrderStatus.OPEN,
                           OrderStatus.PARTIALLY_FILLED})
PROBE_BYTES = 64 * 1024  # the start-up write probe's size: room for the first ticks' records


class StoreNotWritableError(StoreWriteError):
    """The store cannot be written at start (disk full, read-only): the bot refuses before any order."""


def is_legal_transition(previous: OrderStatus, new: OrderStatus) -> bool:
    """Whether the store accepts an order moving from ``previous`` to ``new``.

    The table rules; in addition, the first answer for an intent may be any state a *sent*
    order can reach (an answer from the exchange implies the order was SUBMITTED).
    """
    if new in ORDER_TRANSITIONS[previous]:
        return True
    return previous is OrderStatus.INTENDED and new in ORDER_TRANSITIONS[OrderStatus.SUBMITTED]


class StoreModeError(ConfigError):
    """The store was created by the other mode (``paper`` on a live store, or ``live`` on a paper one)."""


class SqlStore:
    """The journal on a SQL database; opens (and migrates to head) on construction.

    ``url``: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host:port/db``.
    ``busy_timeout_s``: how long a SQLite writer waits for another writer before ``StoreError``.
    Raises ``StoreError`` when the database cannot be opened or migrated.
    """

    def __init__(self, url: str, *, busy_timeout_s: float = 5.0, migrate_schema: bool = True) -> None:
        self._engine = create_store_engine(url, busy_timeout_s=busy_timeout_s)
        self._closed = False
        self.url = safe_url(url)
        if migrate_schema:
            try:
                migrate(self._engine)
            except BaseException:
                self._engine.dispose()
                raise

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def close(self) -> None:
        """Release every connection; later calls raise ``StoreError``."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _write(self, what: str) -> AbstractContextManager[Connection]:
        if self._closed:
            raise StoreError(f"store {self.url}: {what} failed (the store is closed)")
        return write_transaction(self._engine, what)

    def _read(self, what: str) -> AbstractContextManager[Connection]:
        if self._closed:
            raise StoreError(f"store {self.url}: {what} failed (the store is closed)")
        return read_transaction(self._engine, what)

    def probe_write(self) -> None:
        """Prove the store can be written before anything trades: one committed transaction that inserts a
        ``PROBE_BYTES`` event row and deletes it again (on a full disk even this commit fails).
        Raises ``StoreNotWritableError`` saying why and what to do."""
        try:
            with self._write("probing the store with a write") as conn:
                probe = conn.execute(sa.insert(t.events).values(
                    ts=datetime.now(UTC), kind="store_probe", symbol="", detail="." * PROBE_BYTES,
                ).returning(t.events.c.id)).scalar_one()
                conn.execute(sa.delete(t.events).where(t.events.c.id == probe))
        except StoreError as exc:
            detail = str(exc).removesuffix(f"; {STORE_WRITE_ADVICE}").removeprefix(f"store {self.url}: ")
            raise StoreNotWritableError(
                f"the store {self.url} cannot be written ({detail}); nothing was sent to Kraken; "
                f"{STORE_WRITE_ADVICE}") from exc

    # -- the Journal port --------------------------------------------------------------------
    def record_intent(self, intent: OrderIntent, *, tick: int | None = None) -> None:
        """Store ``intent`` (committed when this returns) before its order is sent.

        Recording the same intent again is a no-op; a different intent under a known client
        order id raises ``StoreError``, as does any database failure: then do not send.
        """
        with self._write(f"recording intent {intent.client_order_id}") as conn:
            known = conn.execute(sa.select(t.order_intents).where(
                t.order_intents.c.client_order_id == intent.client_order_id)).mappings().first()
            if known is not None:
                if rows.intent_from(known) != intent:
                    raise StoreError(f"store {self.url}: client order id {intent.client_order_id} is already "
                                     f"used by another intent; refusing to reuse it")
                return
            conn.execute(sa.insert(t.order_intents).values(rows.intent_row(intent, tick)))
            conn.execute(sa.insert(t.order_events).values(rows.order_event_row(rows.intended_order(intent), None)))

    def record_order(self, order: Order) -> None:
        """Store the order's new state and append the change to ``order_events``.

        The intent must be stored first. Raises ``InvalidTransitionError`` when the move from
        the stored state is not in ``ORDER_TRANSITIONS``, when the filled size shrinks, or when
        symbol or side differ from the intent; a repeat of the stored state is a no-op.
        """
        cid = order.client_order_id
        with self._write(f"recording order {cid} {order.status}") as conn:
            self._apply_order(conn, order)

    def record_fill(self, fill: Fill) -> bool:
        """Store ``fill`` once; False (nothing written) when its trade id is already stored."""
        stmt = (self._insert(t.fills).values(rows.fill_row(fill))
                .on_conflict_do_nothing(index_elements=["trade_id"]).returning(t.fills.c.id))
        with self._write(f"recording fill {fill.trade_id}") as conn:
            inserted = conn.execute(stmt).first() is not None
        if not inserted:
            log.debug("%s: fill %s already recorded; ignored", fill.symbol, fill.trade_id)
        return inserted

    def record_event(self, event: JournalEvent) -> None:
        """Store a timeline event (shock, pause, close, trim), its detail redacted like the log."""
        with self._write(f"recording event {event.kind}") as conn:
            conn.execute(sa.insert(t.events).values(rows.event_row(event)))

    def record_equity(self, account: AccountState, exposure_usd: float) -> None:
        """Store the account's equity and margins and our gross exposure (USD) at ``account.ts``."""
        row = rows.equity_row(account.ts, account.equity_usd, exposure_usd, account.initial_margin_usd, account)
        with self._write("recording equity") as conn:
            conn.execute(sa.insert(t.equity).values(row))

    def extend_equity(self, equity_rows: Sequence[tuple[datetime, float, float, float]]) -> None:
        """Many (ts, equity USD, exposure USD, initial margin USD) rows at once, oldest first."""
        if not equity_rows:
            return
        with self._write(f"recording {len(equity_rows)} equity rows") as conn:
            conn.execute(sa.insert(t.equity), [rows.equity_row(*r) for r in equity_rows])

    # -- more writes -------------------------------------------------------------------------
    def adopt_order(self, order: Order, *, reason: str = "adopted") -> None:
        """Store an order of ours found on the exchange without a stored intent: an intent standing for
        it (``reason``) and its state, in one transaction. Raises like ``record_order``."""
        intent = rows.intent_for_adopted(order, reason)
        with self._write(f"adopting order {order.client_order_id}") as conn:
            exists = conn.execute(sa.select(t.order_intents.c.id).where(
                t.order_intents.c.client_order_id == order.client_order_id)).first()
            if exists is None:
                conn.execute(sa.insert(t.order_intents).values(rows.intent_row(intent, None)))
            self._apply_order(conn, order)

    def record_positions(self, ts: datetime, positions: Iterable[Position]) -> None:
        """Store a snapshot of all open positions at ``ts`` (an empty snapshot means flat)."""
        positions = list(positions)
        with self._write(f"recording {len(positions)} positions") as conn:
            snapshot_id = conn.execute(sa.insert(t.position_snapshots).values(
                ts=ts, n_positions=len(positions)).returning(t.position_snapshots.c.id)).scalar_one()
            if positions:
                conn.execute(sa.insert(t.snapshot_positions), [rows.position_row(snapshot_id, p) for p in positions])

    def record_plan(self, ts: datetime, summary: str, details: dict[str, Any]) -> None:
        """Store an auction plan: a one-line ``summary`` and JSON ``details`` (Decimals and enums as text),
        their text redacted like the log.

        Raises ``ValueError`` when ``details`` holds NaN or values JSON cannot carry.
        """
        try:
            payload = rows.redacted(to_json(details))
        except TypeError as exc:
            raise ValueError(f"plan details are not JSON: {exc}") from exc
        with self._write("recording auction plan") as conn:
            conn.execute(sa.insert(t.auction_plans).values(ts=ts, summary=redact(summary), details=payload))

    # -- reads -------------------------------------------------------------------------------
    def intents(self) -> list[OrderIntent]:
        """Every stored intent, oldest first."""
        with self._read("reading intents") as conn:
            found = conn.execute(sa.select(t.order_intents).order_by(t.order_intents.c.id)).mappings()
            return [rows.intent_from(r) for r in found]

    def intent(self, client_order_id: str) -> OrderIntent | None:
        """The intent stored under ``client_order_id``, or None."""
        with self._read("reading an intent") as conn:
            row = conn.execute(sa.select(t.order_intents).where(
                t.order_intents.c.client_order_id == client_order_id)).mappings().first()
            return rows.intent_from(row) if row is not None else None

    def tick_of(self, client_order_id: str) -> int | None:
        """The loop tick an intent was recorded in, when given."""
        with self._read("reading an intent's tick") as conn:
            tick = conn.execute(sa.select(t.order_intents.c.tick).where(
                t.order_intents.c.client_order_id == client_order_id)).scalar_one_or_none()
            return int(tick) if tick is not None else None

    def orders(self, statuses: Iterable[OrderStatus] | None = None) -> list[Order]:
        """The current state of every order (optionally only in ``statuses``), intents not yet
        answered included as INTENDED orders; in intent order."""
        wanted = frozenset(statuses) if statuses is not None else None
        with self._read("reading orders") as conn:
            intents = conn.execute(sa.select(t.order_intents).order_by(t.order_intents.c.id)).mappings().all()
            current = {r["client_order_id"]: rows.order_from(r) for r in conn.execute(sa.select(t.orders)).mappings()}
        result: list[Order] = []
        for row in intents:
            order = current.pop(row["client_order_id"], None) or rows.intended_order(rows.intent_from(row))
            if wanted is None or order.status in wanted:
                result.append(order)
        return result

    def order(self, client_order_id: str) -> Order | None:
        """The current state of one order (INTENDED when only its intent is stored), or None."""
        with self._read("reading an order") as conn:
            row = conn.execute(sa.select(t.orders).where(
                t.orders.c.client_order_id == client_order_id)).mappings().first()
            if row is not None:
                return rows.order_from(row)
        intent = self.intent(client_order_id)
        return rows.intended_order(intent) if intent is not None else None

    def open_orders(self) -> list[Order]:
        """Orders not known to be done: INTENDED, SUBMITTED, OPEN, PARTIALLY_FILLED."""
        return self.orders(OPEN_STATUSES)

    def order_events(self, client_order_id: str | None = None) -> list[OrderEvent]:
        """Every stored state change (of one order, when given), oldest first."""
        query = sa.select(t.order_events).order_by(t.order_events.c.id)
        if client_order_id is not None:
            query = query.where(t.order_events.c.client_order_id == client_order_id)
        with self._read("reading order events") as conn:
            return [rows.order_event_from(r) for r in conn.execute(query).mappings()]

    def fills(self, since: datetime | None = None) -> list[Fill]:
        """Stored fills at or after ``since`` (all when None), by time then arrival."""
        query = sa.select(t.fills).order_by(t.fills.c.ts, t.fills.c.id)
        if since is not None:
            query = query.where(t.fills.c.ts >= since)
        with self._read("reading fills") as conn:
            return [rows.fill_from(r) for r in conn.execute(query).mappings()]

    def fill_trade_ids(self) -> set[str]:
        """The trade ids of every stored fill."""
        with self._read("reading fill trade ids") as conn:
            return set(conn.execute(sa.select(t.fills.c.trade_id)).scalars())

    def latest_positions(self) -> list[Position]:
        """The positions of the newest snapshot (empty when flat or when none was stored)."""
        snap = t.position_snapshots
        with self._read("reading positions") as conn:
            newest = conn.execute(sa.select(snap.c.id).order_by(snap.c.ts.desc(), snap.c.id.desc()).limit(1)).scalar()
            if newest is None:
                return []
            found = conn.execute(sa.select(t.snapshot_positions).where(
                t.snapshot_positions.c.snapshot_id == newest).order_by(t.snapshot_positions.c.id)).mappings()
            return [rows.position_from(r) for r in found]

    def plans(self) -> list[AuctionPlanRecord]:
        """Every stored auction plan, oldest first."""
        with self._read("reading auction plans") as conn:
            found = conn.execute(sa.select(t.auction_plans).order_by(t.auction_plans.c.id)).mappings()
            return [AuctionPlanRecord(ts=r["ts"], summary=r["summary"], details=dict(r["details"])) for r in found]

    def events(self, kind: str | None = None) -> list[JournalEvent]:
        """Stored timeline events (of one ``kind``, when given), oldest first."""
        query = sa.select(t.events).order_by(t.events.c.id)
        if kind is not None:
            query = query.where(t.events.c.kind == kind)
        with self._read("reading events") as conn:
            return [rows.event_from(r) for r in conn.execute(query).mappings()]

    def operator_events(self) -> list[JournalEvent]:
        """The operator's commands since the last ``operator_resume`` (that one included), oldest first: what
        ``OperatorControls.restore`` needs to set the mode a restarted loop starts in."""
        kinds = [k.value for k in OPERATOR_EVENTS]
        e = t.events
        since = sa.select(sa.func.max(e.c.id)).where(e.c.kind == EventKind.OPERATOR_RESUME.value).scalar_subquery()
        query = (sa.select(e).where(e.c.kind.in_(kinds), sa.or_(since.is_(None), e.c.id >= since))
                 .order_by(e.c.id))
        with self._read("reading the operator's commands") as conn:
            return [rows.event_from(r) for r in conn.execute(query).mappings()]

    def recent_events(self, limit: int = 100) -> list[JournalEvent]:
        """The newest ``limit`` timeline events, newest first (the status page's event stream)."""
        query = sa.select(t.events).where(t.events.c.kind != "store_probe").order_by(t.events.c.id.desc()).limit(limit)
        with self._read("reading recent events") as conn:
            return [rows.event_from(r) for r in conn.execute(query).mappings()]

    def latest_plan(self) -> AuctionPlanRecord | None:
        """The newest stored auction plan (plans are stored when not empty), or None."""
        p = t.auction_plans
        with self._read("reading the latest auction plan") as conn:
            r = conn.execute(sa.select(p).order_by(p.c.id.desc()).limit(1)).mappings().first()
        return None if r is None else AuctionPlanRecord(ts=r["ts"], summary=r["summary"], details=dict(r["details"]))

    def latest_equity(self) -> tuple[datetime, float, float, float] | None:
        """The newest (ts, equity USD, exposure USD, initial margin USD) row, or None."""
        e = t.equity
        with self._read("reading the latest equity") as conn:
            found = conn.execute(sa.select(e.c.ts, e.c.equity_usd, e.c.exposure_usd, e.c.initial_margin_usd)
                                 .order_by(e.c.id.desc()).limit(1)).first()
        return None if found is None else (found[0], float(found[1]), float(found[2]), float(found[3]))

    def equity_rows(self) -> list[tuple[datetime, float, float, float]]:
        """(ts, equity USD, exposure USD, initial margin USD) rows, oldest first (as ``MemoryJournal.equity``)."""
        e = t.equity
        with self._read("reading equity") as conn:
            found = conn.execute(sa.select(e.c.ts, e.c.equity_usd, e.c.exposure_usd, e.c.initial_margin_usd)
                                 .order_by(e.c.id)).all()
        return [(ts, float(eq), float(ex), float(im)) for ts, eq, ex, im in found]

    # -- the store's mode: which kind of run (live / paper) created it ----------------------------
    def mode(self) -> str | None:
        """``live`` or ``paper``: the mode that first wrote this store; None when none has claimed it."""
        with self._read("reading the store's mode") as conn:
            return conn.execute(sa.select(t.store_meta.c.value).where(t.store_meta.c.key == "mode")).scalar()

    def claim_mode(self, mode: str) -> None:
        """Record ``mode`` (``live`` or ``paper``) as this store's, when none is recorded yet.

        Raises ``StoreModeError`` when the other mode created the store: paper never writes into a
        live store, and live never trades on a paper store's records. A store with records and no mode
        (written before modes were recorded) is taken to be live: paper refuses it too."""
        with self._write(f"claiming the store for {mode}") as conn:
            recorded = conn.execute(sa.select(t.store_meta.c.value).where(t.store_meta.c.key == "mode")).scalar()
            legacy = recorded is None and mode == "paper" and conn.execute(sa.select(t.order_intents.c.id)).first()
            if recorded is None and not legacy:
                conn.execute(sa.insert(t.store_meta).values(key="mode", value=mode))
                return
        if recorded != mode:
            fix = ("give paper its own store: leave store.paper_url out (paper then uses the live store's file "
                   "with a -paper suffix) or point it at another database" if mode == "paper" else
                   "point store.url at the live store, not at a paper one")
            origin = ("holds an earlier Krakenbot's records and no mode (taken to be live)" if legacy
                      else f"was created by `{recorded}`")
            raise StoreModeError(f"store {self.url} {origin}; `{mode}` refuses to use it: {fix}")

    # -- internals ---------------------------------------------------------------------------
    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    def _apply_order(self, conn: Connection, order: Order) -> None:
        cid = order.client_order_id
        # Locking the intent row serialises concurrent updates of one order on PostgreSQL (SQLite has one writer).
        intent = conn.execute(sa.select(t.order_intents.c.symbol, t.order_intents.c.side).where(
            t.order_intents.c.client_order_id == cid).with_for_update()).first()
        if intent is None:
            raise InvalidTransitionError(f"order {cid}: no intent stored for it; record (or adopt) the intent first")
        if (intent.symbol, intent.side) != (order.symbol, order.side.value):
            raise InvalidTransitionError(f"order {cid}: {order.symbol} {order.side} does not match its intent "
                                         f"{intent.symbol} {intent.side}")
        stored = conn.execute(sa.select(t.orders).where(t.orders.c.client_order_id == cid)).mappings().first()
        previous = OrderStatus(stored["status"]) if stored is not None else OrderStatus.INTENDED
        current = rows.order_from(stored) if stored is not None else None
        if order.status is previous:
            if current == order or (current is None and order.status is OrderStatus.INTENDED):
                return  # a repeat: nothing new
        elif not is_legal_transition(previous, order.status):
            raise InvalidTransitionError(f"order {cid}: {previous} -> {order.status} is not a legal transition")
        if current is not None and order.filled_size < current.filled_size:
            raise InvalidTransitionError(f"order {cid}: filled size would shrink from {current.filled_size} "
                                         f"to {order.filled_size}")
        if stored is None:
            conn.execute(sa.insert(t.orders).values(rows.order_row(order)))
        else:
            conn.execute(sa.update(t.orders).where(t.orders.c.client_order_id == cid).values(rows.order_row(order)))
        conn.execute(sa.insert(t.order_events).values(rows.order_event_row(order, previous)))


if TYPE_CHECKING:
    def _sql_store_is_a_journal(store: SqlStore) -> Journal:  # mypy checks SqlStore against the port
        return store
