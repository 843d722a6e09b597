"""The one exception tree of Krakenbot, classed by what the loop does about each error.

A *refusal* (risk says no, the auction rejects a candidate) is a value, never an exception.
Exceptions are for I/O failures and broken invariants. Every adapter translates the
errors of its library (ccxt, SQLAlchemy, ...) into these classes at the call site, so the
loop decides from the class alone:

========================  ===================================================
class                     what the loop does
========================  ===================================================
``ConfigError``           stop at start; nothing is traded
``TransientError``        retry a *read* with backoff and jitter
``RateLimitError``        back off longer, then retry the read
``OutcomeUnknownError``   an order may or may not exist: look it up by client
                          order id before anything else; never resend blindly
``OrderRejectedError``    skip the symbol for this tick
``InsufficientMarginError`` skip the symbol for this tick; refresh the account
``MarketDataError``       pause entries for the symbol; never exit on it
``FatalError``            halt the loop (bad keys, broken invariant)
``StoreError``            halt: the store could not write (the order is not sent)
``StoreWriteError``       protect every position from the exchange's view, then halt
========================  ===================================================
"""

from __future__ import annotations


class KrakenbotError(Exception):
    """Base of every error Krakenbot raises on purpose."""


class ConfigError(KrakenbotError):
    """The configuration is invalid. Raised at start; the process exits with code 2.

    ``problems`` holds one human-readable line per problem, each naming the YAML path.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ClockSkewError(ConfigError):
    """At start the local clock is further from Kraken's server time than ``loop.max_clock_skew_seconds``:
    refused like a config problem (exit code 2); nothing is traded."""


class ExchangeError(KrakenbotError):
    """Base of errors that come from talking to an exchange."""


class TransientError(ExchangeError):
    """Network hiccup, timeout on a read, exchange briefly unavailable: retry the read."""


class RateLimitError(TransientError):
    """The exchange throttled us (HTTP 429 or a rate-limit answer): back off, then retry."""


class OutcomeUnknownError(ExchangeError):
    """An order request was sent but no answer came back.

    The order may exist. The caller must look it up by client order id (then fills, then
    position) and must never resend it blindly.
    """


class OrderRejectedError(ExchangeError):
    """The exchange refused this order (bad size, market closed, post-only, ...): skip the symbol."""


class InsufficientMarginError(OrderRejectedError):
    """The exchange refused the order for lack of margin (Kraken: ``insufficientAvailableFunds``, or
    ``wouldCauseLiquidation`` when the fill would take margin equity below maintenance margin): skip the
    symbol, refresh the account."""


class OrderNotFoundError(ExchangeError):
    """No order with that id exists on the exchange (yet): keep polling, never forget it."""


class DuplicateOrderError(ExchangeError):
    """The client order id is already known to the exchange: the order exists; look it up."""


class MarketDataError(KrakenbotError):
    """Market data is bad (NaN, zero, stale, out of order): pause entries, never trade on it."""


class FatalError(KrakenbotError):
    """Halt: bad credentials, a broken invariant, or a store/exchange mismatch nobody can explain."""


class AuthenticationError(FatalError):
    """The exchange rejected our credentials or permissions."""


class InvalidTransitionError(FatalError):
    """An order was asked to move between two states the transition table forbids."""


class StoreError(FatalError):
    """The store failed to read or write (disk, lock, lost database); the transaction was rolled back.

    When ``record_intent`` raises it, the order must not be sent.
    """


STORE_WRITE_ADVICE = "free disk space, then start again: the restart reconciles from Kraken"


class StoreWriteError(StoreError):
    """The store cannot write (disk or database full): halt. When it failed after the exchange acted, the
    position was first protected from what the exchange reports (``protected``). The message ends with
    ``STORE_WRITE_ADVICE``: free disk space, then start again; the restart reconciles from the exchange."""

    def __init__(self, message: str, *, protected: bool = False) -> None:
        super().__init__(message)
        self.protected = protected
