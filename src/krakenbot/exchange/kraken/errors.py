"""The one place ccxt exceptions become Krakenbot's (``krakenbot.domain.errors``).

Call ``translate_ccxt_error(exc, during_order_create=...)`` at every ccxt call site and raise
what it returns (``raise translated from exc``). The loop decides from the class alone:

=====================================  ==========================  =============================================
ccxt exception (first match wins)      Krakenbot class             what the loop does
=====================================  ==========================  =============================================
``DuplicateOrderId``                   ``DuplicateOrderError``     the order exists: look it up by client id
``OrderNotFound``                      ``OrderNotFoundError``      keep polling; never forget the order
``InsufficientFunds``                  ``InsufficientMarginError`` skip the symbol; refresh the account
``ExchangeNotAvailable`` naming        ``OrderRejectedError``      skip the symbol for this tick (the market is
``marketSuspended``/``marketInactive``                             suspended: not a network blip, do not retry)
``ContractUnavailable``, ``BadSymbol`` ``OrderRejectedError``      skip the symbol for this tick
``InvalidOrder`` (``OrderNotFillable``
``OrderImmediatelyFillable`` ...),
``BadRequest``, ``OperationRejected``
``MarketClosed``
``ExchangeError`` naming a Kraken      ``OrderRejectedError``      skip the symbol (``wouldNotReducePosition``,
order refusal                                                      ``selfFill``, ``tooManySmallOrders``)
``AuthenticationError``,               ``AuthenticationError``     halt (bad keys or permissions)
``PermissionDenied``,
``AccountSuspended``
``RateLimitExceeded``,                 ``RateLimitError``          back off longer, then retry the *read*
``DDoSProtection``
``InvalidNonce``                       ``TransientError``          retry the read (a clock/nonce race)
``RequestTimeout``, ``NetworkError``,  ``TransientError``; during  retry a read; after an order was sent:
``ExchangeNotAvailable`` (5xx),        order creation              ``OutcomeUnknownError``: look the order up by
``OnMaintenance``, ``BadResponse``     ``OutcomeUnknownError``     client order id, never resend blindly
(unparseable body)
``NotSupported``, ``ArgumentsRequired`` ``FatalError``             halt: our code asked for something wrong
any other exception                    ``ExchangeError``; during   surfaced, the symbol is skipped; after an
                                       order creation              order was sent: look it up by client id
                                       ``OutcomeUnknownError``
=====================================  ==========================  =============================================

During order creation a rate limit (HTTP 429), a bad nonce or an authentication refusal mean
the order was refused before it reached the matching engine, so they keep their class; only
an answer that never came (timeout, dropped connection, gateway error, unreadable body) is an
unknown outcome.
"""

from __future__ import annotations

import ccxt

from krakenbot.domain.errors import (
    AuthenticationError,
    DuplicateOrderError,
    ExchangeError,
    FatalError,
    InsufficientMarginError,
    KrakenbotError,
    OrderNotFoundError,
    OrderRejectedError,
    OutcomeUnknownError,
    RateLimitError,
    TransientError,
)

# Kraken's sendorder statuses (https://docs.kraken.com/api/docs/futures-api/trading/send-order: its enum, and
# the names its description adds), in words. Accepted: the order exists (it may have filled).
SEND_ACCEPTED = frozenset({"placed", "partiallyFilled", "filled"})
# Not placed for lack of margin: skip the symbol, refresh the account.
SEND_NO_MARGIN: dict[str, str] = {
    "insufficientAvailableFunds": "not enough available margin",
    "wouldCauseLiquidation": "the fill would take margin equity below maintenance margin (a liquidation)",
}
# Not placed: skip the symbol this tick.
SEND_REFUSED: dict[str, str] = {
    "invalidOrderType": "the order type is invalid",
    "invalidSide": "the side is invalid",
    "invalidSize": "size is not a multiple of the contract's lot (or is below its minimum)",
    "invalidPrice": "price is not a multiple of the contract's tick (or is missing)",
    "tooManySmallOrders": "too many small open orders",
    "selfFill": "the order would fill against one of our own",
    "maxPositionViolation": "the position would exceed the contract's maximum",
    "marketSuspended": "the market is suspended",
    "marketInactive": "the market is inactive",
    "marketIsPostOnly": "the market takes post-only orders only",
    "clientOrderIdTooBig": "the client order id is too long",
    "clientOrderIdTooLong": "the client order id is too long",
    "clientOrderIdInvalid": "the client order id is invalid",
    "outsidePriceCollar": "the price is outside the contract's price collar",
    "wouldIncreasePriceDislocation": "the fill would move the price too far from the mark",
    "postWouldExecute": "post-only order would have taken liquidity",
    "iocWouldNotExecute": "immediate-or-cancel order found nothing to match within its limit",
    "wouldNotReducePosition": "reduce-only order would open or increase a position",
    "tooManyOrders": "too many open orders",
    "fixedLeverageTooHigh": "the contract's fixed leverage setting is too high for the order",
    "wouldProcessAfterSpecifiedTime": "Kraken would have processed it after its processBefore time",
}
SEND_DUPLICATE = "clientOrderIdAlreadyExist"
# Kraken's statuses of other requests (cancel, edit); in a sendorder answer nobody can say what happened.
SEND_OTHER_ACTIONS = frozenset({"cancelled", "edited", "notFound", "orderForEditNotFound", "orderForEditNotAStop",
                                "cannotEditTriggerPriceOfTrailingStop", "cannotEditLimitPriceOfTrailingStop"})
KRAKEN_SEND_STATUSES = (SEND_ACCEPTED | set(SEND_NO_MARGIN) | set(SEND_REFUSED) | {SEND_DUPLICATE}
                        | SEND_OTHER_ACTIONS)


def send_status_error(status: object, *, context: str) -> KrakenbotError | None:
    """The error for Kraken's ``sendStatus.status`` of a ``sendorder`` answer; None when it was accepted.

    ``InsufficientMarginError`` / ``OrderRejectedError`` (not placed; the message names the status),
    ``DuplicateOrderError`` (the id exists: look it up), ``OutcomeUnknownError`` for any other status,
    a missing one included (look the order up by client id, never resend). Never raises.
    """
    if status in SEND_ACCEPTED:
        return None
    text = str(status)[:80]
    if text in SEND_NO_MARGIN:
        return InsufficientMarginError(f"{context}: {SEND_NO_MARGIN[text]} (Kraken refused the order: {text})")
    if text in SEND_REFUSED:
        return OrderRejectedError(f"{context}: {SEND_REFUSED[text]} (Kraken refused the order: {text})")
    if text == SEND_DUPLICATE:
        return DuplicateOrderError(f"{context}: Kraken says the client order id exists: {text}")
    return OutcomeUnknownError(f"{context}: sendorder answered status {text!r}, which does not say whether "
                               "the order was placed")


# Kraken Futures cancelorder statuses that ccxt raises as a bare ExchangeError.
_REFUSAL_STATUSES = ("wouldNotReducePosition", "selfFill", "tooManySmallOrders", "maxPositionViolation",
                     "outsidePriceCollar", "invalidArgument")
_SUSPENDED_STATUSES = ("marketSuspended", "marketInactive")


def translate_ccxt_error(exc: BaseException, *, during_order_create: bool = False,
                         context: str = "") -> KrakenbotError:
    """Return the Krakenbot exception for a ccxt exception (see the module table).

    ``during_order_create`` marks a ``create_order`` call: a missing answer then becomes
    ``OutcomeUnknownError``. ``context`` (e.g. ``"PF_XBTUSD: create_order"``) prefixes the
    message. A Krakenbot exception is returned unchanged. Never raises.
    """
    text = str(exc)
    message = f"{context}: {type(exc).__name__}: {text}" if context else f"{type(exc).__name__}: {text}"
    if isinstance(exc, KrakenbotError):
        return exc
    if isinstance(exc, ccxt.DuplicateOrderId):
        return DuplicateOrderError(message)
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFoundError(message)
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientMarginError(message)
    if isinstance(exc, ccxt.ExchangeNotAvailable) and any(s in text for s in _SUSPENDED_STATUSES):
        return OrderRejectedError(message)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.OperationRejected):
        return OrderRejectedError(message)
    if isinstance(exc, ccxt.AuthenticationError | ccxt.AccountSuspended):
        return AuthenticationError(message)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimitError(message)
    if isinstance(exc, ccxt.InvalidNonce):
        return TransientError(message)
    if isinstance(exc, ccxt.NetworkError | ccxt.BadResponse):
        # RequestTimeout, ExchangeNotAvailable (5xx, maintenance), dropped connections, garbled bodies.
        return OutcomeUnknownError(message) if during_order_create else TransientError(message)
    if isinstance(exc, ccxt.NotSupported | ccxt.ArgumentsRequired):
        return FatalError(message)
    if isinstance(exc, ccxt.ExchangeError) and any(s in text for s in _REFUSAL_STATUSES):
        return OrderRejectedError(message)
    # Anything else after an order was sent (an unknown error text, a parser crash on a body
    # nobody expected) leaves the order's fate open: look it up rather than guess.
    return OutcomeUnknownError(message) if during_order_create else ExchangeError(message)
