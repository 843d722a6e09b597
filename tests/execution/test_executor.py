import pytest

from krakenbot.domain.vocabulary import OrderReason
from krakenbot.execution.executor import ExecutionResult


def test_execution_result_carries_its_reason_as_an_order_reason() -> None:
    result = ExecutionResult(symbol="PF_XBTUSD", reason="auction_open", refused="entries paused")
    assert result.reason is OrderReason.AUCTION_OPEN
    assert ExecutionResult(symbol="PF_XBTUSD", reason=OrderReason.STOP).reason is OrderReason.STOP


def test_execution_result_refuses_a_reason_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="auction-open"):
        ExecutionResult(symbol="PF_XBTUSD", reason="auction-open")
