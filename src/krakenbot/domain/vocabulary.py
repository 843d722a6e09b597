"""The loop's words as types: why an order was sent, what a journal event records, what capped a size.

Each is a ``StrEnum`` whose value is the string the store and the reports have always carried,
so stored rows and CSV columns read the same; code compares members, never spelled strings.
"""

from __future__ import annotations

from enum import StrEnum

LIQUIDATION_ID_PREFIX = "liquidation"  # client order id of a venue's liquidation fill: ``liquidation-<n>``
ALERT_PREFIX = "ALERT"  # first word of every log line operations must route (see ``alert``)


class OrderReason(StrEnum):
    """Why the loop sent an order (``OrderIntent.reason``, ``ExecutionResult.reason``)."""

    AUCTION_OPEN = "auction_open"
    AUCTION_CLOSE_REVERSED = "auction_close_reversed"
    AUCTION_CLOSE_STALE = "auction_close_stale"
    AUCTION_CLOSE_OUTRANKED = "auction_close_outranked"
    STOP = "stop"
    SHOCK_CLOSE = "shock_close"
    SHOCK_TRIM = "shock_trim"
    END_OF_DATA = "end_of_data"  # a backtest flattens what is still open when the data ends
    OPERATOR_STOP = "operator_stop"
    # fills no order call of ours asked for
    LIQUIDATION = "liquidation"
    EXTERNAL = "external"

    @classmethod
    def auction_close(cls, close_reason: str) -> OrderReason:
        """The order reason of an auction close planned for ``close_reason`` (``reversed``, ``stale``, ...)."""
        return cls(f"auction_close_{close_reason}")

    @classmethod
    def of_unasked_fill(cls, client_order_id: str) -> OrderReason:
        """A fill that no order of ours explains: the venue's liquidation, or something external."""
        return cls.LIQUIDATION if client_order_id.startswith(LIQUIDATION_ID_PREFIX) else cls.EXTERNAL


class EventKind(StrEnum):
    """What a ``JournalEvent`` records (the ``kind`` column of the store and of ``events.csv``)."""

    SHOCK_MOVE = "shock_move"
    SHOCK_RANGE = "shock_range"
    SHOCK_BASIS = "shock_basis"
    SHOCK_MARKETWIDE = "shock_marketwide"
    SHOCK_CLOSE = "shock_close"
    SHOCK_TRIM = "shock_trim"
    CLOSE_REVERSED = "close_reversed"
    CLOSE_STALE = "close_stale"
    CLOSE_OUTRANKED = "close_outranked"
    OPEN_SHRUNK = "open_shrunk"  # the refreshed margin paid for less than the auction planned
    OPEN_SKIPPED = "open_skipped"  # the refreshed margin (or a failed close) left no room for it
    STOP = "stop"  # a protective stop filled
    STOP_PARTIAL = "stop_partial"  # a triggered stop filled only partly: its remainder protected again
    LIQUIDATION = "liquidation"
    EXTERNAL = "external"
    CLOSED_ON_EXCHANGE = "closed_on_exchange"
    FOREIGN_POSITION = "foreign_position"
    RECONCILE_MISMATCH = "reconcile_mismatch"
    CANDLE_QUARANTINED = "candle_quarantined"  # a signal candle far from the futures mark: its symbol paused
    CANDLE_RELEASED = "candle_released"  # a newer candle within the bound ended that quarantine
    UNKNOWN_OURS = "unknown_ours"  # orders or positions with our instance id the store did not know: refused
    ADOPTED = "adopted"  # ... taken into the store by `store adopt`
    STORE_REPAIRED = "store_repaired"  # the store's fills made to agree with the exchange by `store repair`
    CLOCK_SKEWED = "clock_skewed"  # the local clock is beyond tolerance from Kraken's: entries, stale closes paused
    CLOCK_SKEW_CLEARED = "clock_skew_cleared"  # back within tolerance: they resume
    CLOCK_STEPPED_BACK = "clock_stepped_back"  # the local clock went backwards; the loop's time did not
    ACCOUNT_SHARED = "account_shared"  # another process trades the account with our instance id: entries paused
    ORDER_REFUSED = "order_refused"  # Kraken refused an order (its status in the detail): recorded REJECTED
    DEAD_MAN_SWITCH_FIRED = "dead_man_switch_fired"  # no successful arm for its timeout: Kraken may have cancelled all
    DEAD_MAN_SWITCH_REFRESH_FAILED = "dead_man_switch_refresh_failed"  # an arm failed: tried again next tick (log only)
    STOP_MISSING = "stop_missing"  # a position without a stop of ours on the exchange: one is placed
    # an operator's commands (status API or CLI), applied by the loop at its next tick
    OPERATOR_PAUSE = "operator_pause"  # entries paused until resumed
    OPERATOR_RESUME = "operator_resume"  # entries (and a reduce-only switch of the operator's) lifted
    OPERATOR_REDUCE_ONLY = "operator_reduce_only"  # only closes and reductions until resumed
    OPERATOR_FLATTEN = "operator_flatten"  # one symbol or every position closed reduce-only through the executor

    @classmethod
    def shock(cls, detector: str) -> EventKind:
        """The event of a ShockGuard detection by ``detector`` (``move``, ``range``, ``basis``, ``marketwide``)."""
        return cls(f"shock_{detector}")

    @classmethod
    def auction_close(cls, close_reason: str) -> EventKind:
        """The event of an auction close planned for ``close_reason`` (``reversed``, ``stale``, ``outranked``)."""
        return cls(f"close_{close_reason}")

    @property
    def is_shock_detection(self) -> bool:
        """True for a detection (move, range, basis, market-wide), False for the trims and closes it caused."""
        return self in _DETECTIONS


def alert(kind: EventKind, detail: str) -> str:
    """The log line of an alert-worthy ``kind``: ``ALERT <kind>: <detail>``, logged at WARNING or above, so
    operations can route every such line by its first word and its name."""
    return f"{ALERT_PREFIX} {kind.value}: {detail}"


OPERATOR_EVENTS = frozenset({EventKind.OPERATOR_PAUSE, EventKind.OPERATOR_RESUME, EventKind.OPERATOR_REDUCE_ONLY,
                             EventKind.OPERATOR_FLATTEN})  # what ``OperatorControls.restore`` replays at start

_DETECTIONS = frozenset({EventKind.SHOCK_MOVE, EventKind.SHOCK_RANGE, EventKind.SHOCK_BASIS,
                         EventKind.SHOCK_MARKETWIDE})


class CapReason(StrEnum):
    """What set a trade's notional in ``RiskManager.validate_trade`` (``TradeDecision.capped_by``)."""

    NONE = ""
    RISK_PER_TRADE = "risk_per_trade"
    NOTIONAL_OVERRIDE = "notional_override"
    LEVERAGE = "leverage"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    MARGIN_UTILIZATION = "margin_utilization"
    TOTAL_EXPOSURE = "total_exposure"
    MARGIN_BUDGET = "margin_budget"  # the auction's refreshed margin budget shrank it
