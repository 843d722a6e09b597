from typing import get_args

import pytest

from krakenbot.domain.vocabulary import ALERT_PREFIX, CapReason, EventKind, OrderReason, alert
from krakenbot.portfolio.plan import CloseReason
from krakenbot.risk.shock_detect import ShockKind


@pytest.mark.parametrize(("client_order_id", "reason"), [
    ("liquidation-1", OrderReason.LIQUIDATION),
    ("liquidation", OrderReason.LIQUIDATION),
    ("kb-1700000000000-a1b2c31", OrderReason.EXTERNAL),  # an id of ours the loop no longer remembers
    ("", OrderReason.EXTERNAL),
    ("my-liquidation-1", OrderReason.EXTERNAL),  # only the prefix counts
])
def test_of_unasked_fill_is_liquidation_only_for_the_venue_liquidation_prefix(client_order_id: str,
                                                                              reason: OrderReason) -> None:
    assert OrderReason.of_unasked_fill(client_order_id) is reason


@pytest.mark.parametrize("detector", get_args(ShockKind))
def test_event_kind_shock_names_every_detector_and_is_a_detection(detector: str) -> None:
    kind = EventKind.shock(detector)
    assert kind == f"shock_{detector}" and kind.is_shock_detection


def test_event_kind_shock_refuses_an_unknown_detector() -> None:
    with pytest.raises(ValueError, match="shock_gap"):
        EventKind.shock("gap")


def test_is_shock_detection_is_false_for_what_a_shock_causes_and_everything_else() -> None:
    detections = {k for k in EventKind if k.is_shock_detection}
    assert detections == {EventKind.SHOCK_MOVE, EventKind.SHOCK_RANGE, EventKind.SHOCK_BASIS,
                          EventKind.SHOCK_MARKETWIDE}
    assert not EventKind.SHOCK_CLOSE.is_shock_detection and not EventKind.SHOCK_TRIM.is_shock_detection


@pytest.mark.parametrize("close_reason", list(CloseReason))
def test_every_auction_close_reason_has_an_order_reason_and_an_event_kind(close_reason: CloseReason) -> None:
    assert OrderReason.auction_close(close_reason) == f"auction_close_{close_reason.value}"
    assert EventKind.auction_close(close_reason) == f"close_{close_reason.value}"


def test_members_are_the_strings_the_store_and_reports_carry() -> None:
    # Stored rows and CSV columns hold these exact strings: renaming one orphans the history.
    assert [r.value for r in OrderReason] == [
        "auction_open", "auction_close_reversed", "auction_close_stale", "auction_close_outranked", "stop",
        "shock_close", "shock_trim", "end_of_data", "operator_stop", "liquidation", "external"]
    assert f"{OrderReason.SHOCK_TRIM}" == str(OrderReason.SHOCK_TRIM) == "shock_trim"
    assert EventKind.SHOCK_CLOSE == OrderReason.SHOCK_CLOSE and EventKind.STOP == OrderReason.STOP
    assert CapReason.NONE == "" and CapReason("leverage") is CapReason.LEVERAGE


def test_an_alert_line_starts_with_the_one_prefix_and_the_event_name() -> None:
    assert ALERT_PREFIX == "ALERT"
    assert alert(EventKind.STOP_MISSING, "PF_XBTUSD: no stop") == "ALERT stop_missing: PF_XBTUSD: no stop"
