"""A loopback Kraken as strict as Kraken (issue 12, item 7), through the real ccxt client.

Signatures are verified as Kraken documents them; requests are charged to Kraken's token buckets;
fills carry Kraken's fill types; funding accrues into each position and settles hourly.
"""

from __future__ import annotations

import base64
import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builders.cli import loopback_config
from faults.loopback import BTC, ETH, SENTINEL_KEY, SENTINEL_SECRET, Bot
from krakenbot.cli import app
from krakenbot.config.models import ExchangeConfig
from krakenbot.domain import OrderIntent, OrderSide, OrderType, SimulatedClock
from krakenbot.domain.errors import RateLimitError
from krakenbot.domain.vocabulary import OrderReason
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing import FakeKraken
from live.e2e_support import warm_candle_cache

WRONG_SECRET = base64.b64encode(b"a-secret-kraken-does-not-know").decode()
THETA = "PF_THETAUSD"


def kraken_client(fake: FakeKraken, clock: SimulatedClock, sleeps: list[float], *, retries: int = 4) -> KrakenClient:
    """The real client, ccxt's own limiter off (as in the fault matrix), whose back-off sleeps move the
    simulated clock: Kraken's bucket refills while it waits."""

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    cfg = ExchangeConfig.model_validate({
        "spot_base_url": fake.url, "futures_base_url": fake.url, "timeout_seconds": 2, "max_retries": retries,
        "retry_base_delay_seconds": 0.5, "client_rate_limit": False})
    return KrakenClient(cfg, api_key=SENTINEL_KEY, api_secret=SENTINEL_SECRET, sleep=sleep, rng=random.Random(5),
                        clock=clock, enable_rate_limit=False)


# ---- Authent -------------------------------------------------------------------------------------
def test_the_fault_matrix_bot_signs_every_private_request_as_kraken_verifies_it(bot: Bot, fake: FakeKraken) -> None:
    assert fake.credentials is not None and SENTINEL_KEY in fake.credentials  # verification is on
    bot.start()
    bot.auction(bot.signal(BTC), bot.signal(ETH))
    bot.tick()
    assert fake.auth_refusals == [] and len(bot.sent()) >= 4  # entries and stops, each signed right
    bot.check()


def test_a_wrong_secret_halts_live_with_a_clear_auth_message_and_exit_1(
        tmp_path: Path, wall_fake: FakeKraken, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("krakenbot.logs.setup_logging", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("KRAKEN_FUTURES_API_SECRET", WRONG_SECRET)
    warm_candle_cache(wall_fake, tmp_path)
    config = tmp_path / "live.yaml"
    config.write_text(loopback_config(wall_fake.url, tmp_path / "live.db", retries=1))
    result = CliRunner().invoke(app, ["live", "--force", "--config", str(config), "--max-ticks", "1"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    halted = [line for line in result.stderr.splitlines() if line.startswith("halted:")]
    assert len(halted) == 1 and "authenticationError" in halted[0], result.stderr
    assert WRONG_SECRET not in result.output and SENTINEL_KEY not in result.output
    assert wall_fake.auth_refusals and wall_fake.requests_to("sendorder") == []


# ---- rate limits ---------------------------------------------------------------------------------
def test_reads_beyond_the_budget_get_api_limit_exceeded_and_succeed_after_back_off(
        fake: FakeKraken, clock: SimulatedClock) -> None:
    sleeps: list[float] = []
    client = kraken_client(fake, clock, sleeps)
    client.load_futures_instruments()
    fake.drain_rate_limit()  # another program on the key spent the budget a moment ago
    assert client.fetch_positions() == [] and client.fetch_account().equity_usd == 10_000.0
    assert fake.limits.derivatives.refused >= 1 and sleeps  # refused, backed off, then answered
    assert len(fake.requests_to("openpositions")) == fake.limits.derivatives.refused + 1  # the last one answered


def test_a_burst_of_orders_beyond_the_budget_is_refused_not_placed_and_never_in_doubt(
        fake: FakeKraken, clock: SimulatedClock) -> None:
    client = kraken_client(fake, clock, [])
    client.load_futures_instruments()
    placed, limited = 0, 0
    for n in range(60):  # 60 sendorders in the same instant: 600 units against a pool of 500
        intent = OrderIntent(client_order_id=f"kbf-burst-{n}", symbol=BTC, side=OrderSide.BUY if n % 2 == 0 else
                             OrderSide.SELL, size=Decimal("0.001"), order_type=OrderType.MARKET,
                             reduce_only=False, reason=OrderReason.AUCTION_OPEN, ts_created=clock.now())
        try:
            client.create_order(intent)
            placed += 1
        except RateLimitError:  # refused before the matching engine: a refusal, never an unknown outcome
            limited += 1
    assert (placed, limited) == (50, 10)
    assert len(fake.book.orders) == 50  # the refused ones were not placed
    clock.advance(timedelta(seconds=1))  # 50 units back: five more orders fit
    assert client.create_order(OrderIntent(
        client_order_id="kbf-burst-after", symbol=BTC, side=OrderSide.BUY, size=Decimal("0.001"),
        order_type=OrderType.MARKET, reduce_only=False, reason=OrderReason.AUCTION_OPEN,
        ts_created=clock.now())).filled_size == Decimal("0.001")


def test_a_restart_that_pages_a_week_of_fills_during_a_busy_tick_never_trips_the_limit(
        bot: Bot, fake: FakeKraken, clock: SimulatedClock) -> None:
    start = clock.now()
    with fake._lock:  # another strategy on the account traded THETA all week: 1,200 fills, flat at the end
        for n in range(1_200):
            ts = start - timedelta(days=7) + timedelta(minutes=8 * n + 1)
            fake.book.send_order({"symbol": THETA, "side": "buy" if n % 2 == 0 else "sell", "orderType": "mkt",
                                  "size": "100", "cliOrdId": f"other-{n}"}, ts)
    assert THETA not in fake.book.positions
    bot.start()  # reconcile reads a week of fills (12 pages, 25 units each after the first), then a tick
    bot.auction(bot.signal(BTC), bot.signal(ETH))  # the busy tick: entries and stops in the same instant
    paged = [r for r in fake.requests_to("/fills") if r.param("lastFillTime")]
    assert len(paged) >= 11
    assert fake.limits.derivatives.refused == 0, f"spent {fake.limits.derivatives.spent} units"
    assert BTC in bot.exchange_positions() and ETH in bot.exchange_positions()
    assert bot.open_stops(BTC) and bot.open_stops(ETH)


# ---- fill types -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "event"), [("liquidation", "liquidation"), ("unwindBankrupt", "liquidation"),
                                             ("taker", "external"), ("assignor", "external"),
                                             ("unwindCounterparty", "external")])
def test_each_kraken_fill_type_closing_a_position_is_parsed_with_a_fee_and_its_reason(
        bot: Bot, fake: FakeKraken, kind: str, event: str) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    fake.close_position(BTC, kind=kind)
    bot.tick()
    assert [e.symbol for e in bot.store.events(event)] == [BTC]
    [closing] = [f for f in bot.store.fills() if f.side is OrderSide.SELL]
    assert closing.fee_usd > 0  # estimated at the taker rate, never 0
    assert closing.client_order_id.startswith("liquidation-") == (event == "liquidation")
    bot.check()


def test_the_loopback_emits_only_kraken_fill_types(bot: Bot, fake: FakeKraken) -> None:
    with pytest.raises(ValueError, match="adl"):
        fake.close_position(BTC, kind="adl")
    bot.start()
    bot.auction(bot.signal(BTC))
    assert fake.close_position(BTC, kind="manual", size=0.001)  # the operator's close: Kraken calls it taker
    with fake._lock:
        assert [f.kind for f in fake.book.fills if f.order.cli_ord_id is None] == ["taker"]


# ---- funding --------------------------------------------------------------------------------------
def test_funding_accrues_into_the_position_and_settles_hourly_into_the_balance(
        bot: Bot, fake: FakeKraken, clock: SimulatedClock) -> None:
    fake.set_funding_rate(BTC, 0.0001)  # longs pay 0.01 % of the mark per hour
    bot.start()
    bot.auction(bot.signal(BTC))
    client = bot.client
    assert client is not None
    size = bot.exchange_positions()[BTC]
    mark = bot.mark(BTC)
    balance_before = fake.book.balance_usd
    minute = 60 - clock.now().minute  # to just before the next full hour
    clock.advance(timedelta(minutes=minute - 1))
    [position] = client.fetch_positions()
    expected = -float(size) * 0.0001 * mark * (minute - 1) / 60
    assert position.unrealized_funding_usd == pytest.approx(expected, rel=0.05)
    account = client.fetch_account()
    assert account.unrealized_funding_usd == pytest.approx(expected, rel=0.05)
    assert fake.book.balance_usd == balance_before  # accrued, not settled yet
    clock.advance(timedelta(minutes=2))  # the hour passed: settled into the balance
    [position] = client.fetch_positions()
    assert abs(position.unrealized_funding_usd) < abs(expected) / 10  # only the new hour's minute
    settled = fake.book.balance_usd - balance_before
    assert float(settled) == pytest.approx(-float(size) * 0.0001 * mark * minute / 60, rel=0.05)
    assert fake.funding.settlements == 1 and settled < 0
    bot.tick()
    bot.check()
