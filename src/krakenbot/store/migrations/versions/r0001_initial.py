"""Initial schema: intents, orders and their events, fills, position snapshots, plans, events, equity.

Revision ID: r0001
Revises:
Create Date: 2026-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from krakenbot.store.schema import ExactDecimal, UtcDateTime

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column[int]:
    return sa.Column("id", _ID, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "order_intents", _id(),
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
    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.String(), primary_key=True),
        sa.Column("exchange_order_id", sa.String()),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("size", ExactDecimal(), nullable=False),
        sa.Column("order_type", sa.String(), nullable=False),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("filled_size", ExactDecimal(), nullable=False),
        sa.Column("avg_fill_price", ExactDecimal()),
        sa.Column("limit_price", ExactDecimal()),
        sa.Column("stop_price", ExactDecimal()),
        sa.Column("ts_updated", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_table(
        "order_events", _id(),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("from_status", sa.String()),
        sa.Column("to_status", sa.String(), nullable=False),
        sa.Column("exchange_order_id", sa.String()),
        sa.Column("filled_size", ExactDecimal(), nullable=False),
        sa.Column("avg_fill_price", ExactDecimal()),
    )
    op.create_index("ix_order_events_client_order_id", "order_events", ["client_order_id"])
    op.create_table(
        "fills", _id(),
        sa.Column("trade_id", sa.String(), nullable=False, unique=True),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("exchange_order_id", sa.String()),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("size", ExactDecimal(), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=False),
        sa.Column("fee_usd", ExactDecimal(), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("is_maker", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_fills_client_order_id", "fills", ["client_order_id"])
    op.create_index("ix_fills_ts", "fills", ["ts"])
    op.create_table(
        "position_snapshots", _id(),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("n_positions", sa.Integer(), nullable=False),
    )
    op.create_index("ix_position_snapshots_ts", "position_snapshots", ["ts"])
    op.create_table(
        "snapshot_positions", _id(),
        sa.Column("snapshot_id", _ID, sa.ForeignKey("position_snapshots.id", ondelete="CASCADE"), nullable=False),
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
    op.create_index("ix_snapshot_positions_snapshot_id", "snapshot_positions", ["snapshot_id"])
    op.create_table(
        "auction_plans", _id(),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_auction_plans_ts", "auction_plans", ["ts"])
    op.create_table(
        "events", _id(),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_events_ts", "events", ["ts"])
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_table(
        "equity", _id(),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("equity_usd", ExactDecimal(), nullable=False),
        sa.Column("exposure_usd", ExactDecimal(), nullable=False),
        sa.Column("initial_margin_usd", ExactDecimal(), nullable=False),
        sa.Column("maintenance_margin_usd", ExactDecimal()),
        sa.Column("available_margin_usd", ExactDecimal()),
    )
    op.create_index("ix_equity_ts", "equity", ["ts"])


def downgrade() -> None:
    for table in ("equity", "events", "auction_plans", "snapshot_positions", "position_snapshots", "fills",
                  "order_events", "orders", "order_intents"):
        op.drop_table(table)
