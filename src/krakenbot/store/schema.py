"""The store's tables (SQLAlchemy Core) and the two column types that keep money exact and time UTC.

The tables here describe the schema at Alembic head; the migrations under
``krakenbot/store/migrations/versions`` create it (they spell their tables out, so a later
change here never rewrites history). Money and sizes are ``ExactDecimal``: ``NUMERIC``
on PostgreSQL, the decimal's text on SQLite (which has no exact numeric type), so a
``Decimal`` comes back exactly as it went in. Timestamps are ``UtcDateTime``: aware UTC
in, aware UTC out, on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Surrogate keys: BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-incrementing rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime``: ``timestamptz`` on PostgreSQL, naive UTC text on SQLite.

    Binding a naive datetime raises ``ValueError``; results are always aware UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"store timestamps must be timezone-aware, got {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact ``Decimal``: ``NUMERIC`` (unbounded) on PostgreSQL, its text on SQLite.

    Binding anything but a finite ``Decimal`` raises ``ValueError`` (a float would already be inexact).
    """

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String())
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"store amounts must be finite Decimals, got {value!r}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def float_to_decimal(value: float) -> Decimal:
    """The shortest decimal that reads back as ``value`` (exact float round trip); ``ValueError`` if not finite."""
    result = Decimal(repr(float(value)))
    if not result.is_finite():
        raise ValueError(f"store amounts must be finite, got {value!r}")
    return result


metadata = sa.MetaData()

order_intents = sa.Table(
    "order_intents", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("client_order_id", sa.String(), nullable=False, unique=True),
    sa.Column("symbol", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("size", ExactDecimal(), nullable=False),
    sa.Column("order_type", sa.String(), nullable=False),
    sa.Column("reduce_only", sa.Boolean(), nullable=False),
    sa.Column("reason", sa.String(), nullable=False),
    sa.Column("limit_price", ExactDecimal()),
    sa.Column("stop_price", ExactDecimal()),
    sa.Column("ts_created", UtcDateTime(), nullable=False),
    sa.Column("tick", sa.BigInteger()),
)

orders = sa.Table(
    "orders", metadata,
    sa.Column("client_order_id", sa.String(), primary_key=True),
    sa.Column("exchange_order_id", sa.String()),
    sa.Column("symbol", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("size", ExactDecimal(), nullable=False),
    sa.Column("order_type", sa.String(), nullable=False),
    sa.Column("reduce_only", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(), nullable=False, index=True),
    sa.Column("filled_size", ExactDecimal(), nullable=False),
    sa.Column("avg_fill_price", ExactDecimal()),
    sa.Column("limit_price", ExactDecimal()),
    sa.Column("stop_price", ExactDecimal()),
    sa.Column("ts_updated", UtcDateTime(), nullable=False),
)

order_events = sa.Table(
    "order_events", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("client_order_id", sa.String(), nullable=False, index=True),
    sa.Column("ts", UtcDateTime(), nullable=False),
    sa.Column("from_status", sa.String()),
    sa.Column("to_status", sa.String(), nullable=False),
    sa.Column("exchange_order_id", sa.String()),
    sa.Column("filled_size", ExactDecimal(), nullable=False),
    sa.Column("avg_fill_price", ExactDecimal()),
)

fills = sa.Table(
    "fills", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("trade_id", sa.String(), nullable=False, unique=True),
    sa.Column("client_order_id", sa.String(), nullable=False, index=True),
    sa.Column("exchange_order_id", sa.String()),
    sa.Column("symbol", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("size", ExactDecimal(), nullable=False),
    sa.Column("price", ExactDecimal(), nullable=False),
    sa.Column("fee_usd", ExactDecimal(), nullable=False),
    sa.Column("ts", UtcDateTime(), nullable=False, index=True),
    sa.Column("is_maker", sa.Boolean(), nullable=False),
)

position_snapshots = sa.Table(
    "position_snapshots", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ts", UtcDateTime(), nullable=False, index=True),
    sa.Column("n_positions", sa.Integer(), nullable=False),
)

snapshot_positions = sa.Table(
    "snapshot_positions", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              sa.ForeignKey("position_snapshots.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("symbol", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("size", ExactDecimal(), nullable=False),
    sa.Column("entry_price", ExactDecimal(), nullable=False),
    sa.Column("mark_price", ExactDecimal()),
    sa.Column("liquidation_price", ExactDecimal()),
    sa.Column("leverage", ExactDecimal()),
    sa.Column("contract_size", ExactDecimal(), nullable=False),
    sa.Column("score", ExactDecimal()),
    sa.Column("ts_opened", UtcDateTime(), nullable=False),
)

auction_plans = sa.Table(
    "auction_plans", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ts", UtcDateTime(), nullable=False, index=True),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ts", UtcDateTime(), nullable=False, index=True),
    sa.Column("kind", sa.String(), nullable=False, index=True),
    sa.Column("symbol", sa.String(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
)

equity = sa.Table(
    "equity", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ts", UtcDateTime(), nullable=False, index=True),
    sa.Column("equity_usd", ExactDecimal(), nullable=False),
    sa.Column("exposure_usd", ExactDecimal(), nullable=False),
    sa.Column("initial_margin_usd", ExactDecimal(), nullable=False),
    sa.Column("maintenance_margin_usd", ExactDecimal()),
    sa.Column("available_margin_usd", ExactDecimal()),
)

# Facts about the store itself, one row per key: ``mode`` is ``live`` or ``paper`` (the run that created it).
store_meta = sa.Table(
    "store_meta", metadata,
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("value", sa.String(), nullable=False),
)
