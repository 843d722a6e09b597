"""Every ccxt exception class Krakenbot meets maps to one class of the Krakenbot tree."""

from __future__ import annotations

import ccxt
import pytest

from krakenbot.domain import errors as kb
from krakenbot.exchange.kraken.errors import translate_ccxt_error

# (ccxt exception, during order creation?, expected Krakenbot class)
CASES: list[tuple[BaseException, bool, type[kb.KrakenbotError]]] = [
    (ccxt.RateLimitExceeded("krakenfutures apiLimitExceeded"), False, kb.RateLimitError),
    (ccxt.DDoSProtection("krakenfutures 429"), False, kb.RateLimitError),
    (ccxt.RateLimitExceeded("429 on sendorder"), True, kb.RateLimitError),
    (ccxt.NetworkError("connection reset"), False, kb.TransientError),
    (ccxt.RequestTimeout("read timed out"), False, kb.TransientError),
    (ccxt.ExchangeNotAvailable("502 Bad Gateway"), False, kb.TransientError),
    (ccxt.OnMaintenance("maintenance"), False, kb.TransientError),
    (ccxt.BadResponse("unreadable body"), False, kb.TransientError),
    (ccxt.InvalidNonce("nonceBelowThreshold"), False, kb.TransientError),
    (ccxt.InvalidNonce("nonceDuplicate"), True, kb.TransientError),
    (ccxt.RequestTimeout("sendorder timed out"), True, kb.OutcomeUnknownError),
    (ccxt.NetworkError("connection aborted after sendorder"), True, kb.OutcomeUnknownError),
    (ccxt.ExchangeNotAvailable("503 on sendorder"), True, kb.OutcomeUnknownError),
    (ccxt.BadResponse("garbled sendorder answer"), True, kb.OutcomeUnknownError),
    (ccxt.ExchangeError("krakenfutures Server Error"), True, kb.OutcomeUnknownError),
    (TypeError("argument of type 'NoneType' is not iterable"), True, kb.OutcomeUnknownError),
    (ccxt.ExchangeNotAvailable("krakenfutures: createOrder failed due to marketSuspended"), True,
     kb.OrderRejectedError),
    (ccxt.ExchangeNotAvailable("krakenfutures: createOrder failed due to marketInactive"), False,
     kb.OrderRejectedError),
    (ccxt.InsufficientFunds("insufficientAvailableFunds"), True, kb.InsufficientMarginError),
    (ccxt.InvalidOrder("invalidSize"), True, kb.OrderRejectedError),
    (ccxt.OrderNotFillable("iocWouldNotExecute"), True, kb.OrderRejectedError),
    (ccxt.OrderImmediatelyFillable("postWouldExecute"), True, kb.OrderRejectedError),
    (ccxt.ContractUnavailable("marketUnavailable"), True, kb.OrderRejectedError),
    (ccxt.BadRequest("invalidArgument"), False, kb.OrderRejectedError),
    (ccxt.BadSymbol("contractNotFound"), False, kb.OrderRejectedError),
    (ccxt.MarketClosed("closed"), True, kb.OrderRejectedError),
    (ccxt.ExchangeError("krakenfutures: createOrder failed due to wouldNotReducePosition"), True,
     kb.OrderRejectedError),
    (ccxt.OrderNotFound("krakenfutures: cancelOrder failed due to filled"), False, kb.OrderNotFoundError),
    (ccxt.DuplicateOrderId("clientOrderIdAlreadyExist"), True, kb.DuplicateOrderError),
    (ccxt.AuthenticationError("authenticationError"), False, kb.AuthenticationError),
    (ccxt.PermissionDenied("EGeneral:Permission denied"), False, kb.AuthenticationError),
    (ccxt.AccountSuspended("ETrade:User Locked"), True, kb.AuthenticationError),
    (ccxt.NotSupported("fetchOHLCV price"), False, kb.FatalError),
    (ccxt.ArgumentsRequired("price"), True, kb.FatalError),
    (ccxt.ExchangeError("krakenfutures unknownError"), False, kb.ExchangeError),
]


@pytest.mark.parametrize(("exc", "creating", "expected"), CASES,
                         ids=[f"{type(e).__name__}-{'create' if c else 'read'}" for e, c, _ in CASES])
def test_translate_ccxt_error_maps_each_class_to_what_the_loop_does(
        exc: BaseException, creating: bool, expected: type[kb.KrakenbotError]) -> None:
    translated = translate_ccxt_error(exc, during_order_create=creating, context="PF_XBTUSD: call")
    assert type(translated) is expected
    assert str(translated).startswith("PF_XBTUSD: call: ")


def test_translate_ccxt_error_market_suspended_is_not_retried_as_transient() -> None:
    exc = ccxt.ExchangeNotAvailable("krakenfutures: createOrder failed due to marketSuspended")
    assert not isinstance(translate_ccxt_error(exc), kb.TransientError)


def test_translate_ccxt_error_returns_krakenbot_errors_unchanged() -> None:
    original = kb.OrderRejectedError("already ours")
    assert translate_ccxt_error(original) is original
