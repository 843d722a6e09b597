"""Kraken's request costs and token buckets, and funding accrual, of the loopback Kraken (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from krakenbot.testing.fake_kraken_funding import FundingLedger
from krakenbot.testing.fake_kraken_limits import RateLimits, TokenBucket, cost
from krakenbot.testing.fake_kraken_market import default_contracts
from krakenbot.testing.fake_kraken_orders import FuturesBook

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_costs_are_krakens() -> None:
    assert [cost("derivatives", e, {}) for e in ("sendorder", "cancelorder", "editorder", "accounts",
                                                 "openpositions", "openorders", "orders/status", "fills",
                                                 "cancelallorders", "cancelallordersafter")] == [
        10, 10, 10, 2, 2, 2, 1, 2, 25, 25]
    assert cost("derivatives", "fills", {"lastFillTime": "2026-01-15T12:00:00.000Z"}) == 25
    assert cost("derivatives", "batchorder", {}, batch_size=10) == 19
    assert cost("derivatives", "tickers", {}) == 0  # public: free
    assert [cost("history", e, {}) for e in ("orders", "triggers", "executions", "accountlogcsv")] == [1, 1, 1, 6]
    assert [cost("history", "account-log", {"count": str(n)}) for n in (25, 50, 500, 5000, 6000)] == [1, 2, 3, 6, 10]


def test_bucket_refuses_beyond_500_and_refills_continuously() -> None:
    bucket = TokenBucket(capacity=500, window_seconds=10)
    assert all(bucket.take(10, T0) for _ in range(50))
    assert not bucket.take(10, T0) and bucket.refused == 1
    assert not bucket.take(10, T0 + timedelta(seconds=0.1))  # 5 units back: not enough
    assert bucket.take(10, T0 + timedelta(seconds=0.2))  # 10 units back
    assert bucket.take(490, T0 + timedelta(seconds=60)) and bucket.level == 10  # full again, never beyond 500


def test_history_has_its_own_budget_of_100_per_10_minutes() -> None:
    limits = RateLimits()
    assert all(limits.charge("history", "orders", {}, T0) for _ in range(100))
    assert not limits.charge("history", "orders", {}, T0)
    assert limits.charge("derivatives", "sendorder", {}, T0)  # the other budget is untouched
    assert limits.charge("history", "orders", {}, T0 + timedelta(seconds=6))  # 1 token per 6 s


def test_funding_accrues_by_the_hour_and_settles_at_each_full_hour_and_on_a_position_change() -> None:
    book = FuturesBook(contracts={c.symbol: c for c in default_contracts(T0)})
    btc = book.contracts["PF_XBTUSD"]
    btc.funding_rate_rel, btc.mark = 0.0001, 100_000.0  # 10 USD per BTC per hour, longs pay
    book.send_order({"symbol": "PF_XBTUSD", "side": "buy", "orderType": "mkt", "size": "0.1"}, T0)
    ledger = FundingLedger()
    ledger.advance(book, T0)
    balance = book.balance_usd
    ledger.advance(book, T0 + timedelta(minutes=30))
    assert ledger.unrealized_usd("PF_XBTUSD") == Decimal("-0.5") and book.balance_usd == balance
    ledger.advance(book, T0 + timedelta(hours=2, minutes=15))  # two hours settled, a quarter accrued
    assert book.balance_usd == balance - 2 and ledger.unrealized_usd("PF_XBTUSD") == Decimal("-0.25")
    book.send_order({"symbol": "PF_XBTUSD", "side": "sell", "orderType": "mkt", "size": "0.1"},
                    T0 + timedelta(hours=2, minutes=15))
    ledger.advance(book, T0 + timedelta(hours=2, minutes=15))  # flat: what was accrued settles now
    assert ledger.unrealized_usd() == 0 and ledger.settled_usd == Decimal("-2.25") and ledger.settlements == 3
