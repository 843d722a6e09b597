"""The fault matrix with alerts on: each fault against the loopback Kraken reaches a loopback JSON webhook
(apprise ``json://``) as one alert of its kind, and no alert carries a secret (issue 15).

The real run's pieces: ``ops_runtime`` (apprise, the sender thread, the ``ALERT`` log handler), the journal
tee around the SQLite store, the loop's tick observers. Ticks are driven on the simulated clock; each one
is reported to the observers as ``LiveTrading.run`` does. Delivery is awaited with ``flush``, never a sleep.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from builders.alert_receiver import AlertReceiver, alert_receiver
from builders.disk import DiskFull
from faults.loopback import BTC, ETH, SECRETS, Bot
from krakenbot.config.models import AlertsConfig, OpsConfig
from krakenbot.domain.errors import StoreError
from krakenbot.ops.alert_sources import OpsAlert
from krakenbot.ops.runtime import OpsRuntime, ops_runtime
from krakenbot.testing import FakeKraken

HOOK_TOKEN = "hook-token-5f1e2d3c4b"


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with alert_receiver() as r:
        yield r


def _ops_config(bot: Bot, receiver: AlertReceiver) -> None:
    alerts = AlertsConfig(urls=[receiver.url("hook/${KB_TEST_HOOK}")], repeat_after_seconds=3600,
                          stale_data_seconds=20, tick_failures=3)
    bot.cfg = bot.cfg.model_copy(update={"ops": OpsConfig(alerts=alerts)})


def _tick(bot: Bot, seconds: float = 5.0, kind: str = "fast") -> bool:
    """One fast tick, told to the loop's observers as ``LiveTrading.run`` tells them."""
    bot.clock.advance(timedelta(seconds=seconds))
    ok = True
    try:
        bot.live.fast_tick()
    except StoreError:
        raise
    except Exception:
        logging.getLogger("krakenbot.live.trading").exception("tick failed; the loop goes on")
        ok = False
    for observer in bot.live.tick_observers:
        observer.tick_done(kind, 0.01, ok)
    return ok


def _slow(bot: Bot, *signals: object) -> None:
    bot.signals.next = list(signals)
    bot.live.slow_tick()
    for observer in bot.live.tick_observers:
        observer.tick_done("slow", 0.01, True)


def _start(bot: Bot, ops: OpsRuntime) -> None:
    bot.start(journal=ops.wrap_journal(bot.store))
    ops.attach(bot.live)
    ops.started("2 contracts")


def _flushed(ops: OpsRuntime) -> None:
    assert ops.alerts is not None and ops.alerts.flush(30)


def test_fault_matrix_yields_one_alert_per_kind_and_none_carries_a_secret(
        bot: Bot, fake: FakeKraken, receiver: AlertReceiver) -> None:
    _ops_config(bot, receiver)
    expected: list[str] = []
    with ops_runtime(bot.cfg, mode="live", clock=bot.clock, environ={"KB_TEST_HOOK": HOOK_TOKEN},
                     secrets=SECRETS) as ops:
        _start(bot, ops)
        expected.append(OpsAlert.START)

        # a sendorder answer lost, the order hidden from lookups for a while: in doubt, then found
        fake.hide_next_order(reads=4)
        fake.inject("accept_then_drop", path="sendorder", times=1)
        _slow(bot, bot.signal(BTC, stop=0.015))
        assert bot.live.executor.in_doubt
        _tick(bot)
        expected.append(OpsAlert.ORDER_IN_DOUBT)
        for _ in range(10):
            if not bot.live.executor.in_doubt:
                break
            _tick(bot)
        assert not bot.live.executor.in_doubt
        expected.append(OpsAlert.ORDER_RESOLVED)
        _tick(bot)  # its stop goes out

        # Kraken refuses an order (ETH)
        fake.refuse_next("insufficientAvailableFunds", symbol=ETH)
        _slow(bot, bot.signal(ETH))
        expected.append("order_refused")

        # a long on ETH, liquidated by Kraken
        _slow(bot, bot.signal(ETH))
        assert ETH in bot.exchange_positions()
        fake.close_position(ETH, kind="liquidation")
        _tick(bot)
        expected.append("liquidation")

        # a shock on ETH (no position there any more: nothing trimmed)
        fake.set_mark(ETH, bot.mark(ETH) * 1.08)
        _tick(bot)
        shocks = {e.kind for e in bot.store.events() if e.kind.startswith("shock_")}
        assert shocks
        expected.extend(shocks)

        # the BTC stop fills: the mark walks down 1.5 % a minute (no shock) through it; the loss since the
        # day's start passes risk.daily_loss_limit_pct: the next auction is reduce-only
        for _ in range(12):
            if BTC not in bot.exchange_positions():
                break
            fake.set_mark(BTC, bot.mark(BTC) * 0.985)
            _tick(bot, seconds=65)
        assert BTC not in bot.exchange_positions()
        expected.append("stop")
        _slow(bot)
        expected.append(OpsAlert.REDUCE_ONLY)

        # stale tickers on ETH beyond ops.alerts.stale_data_seconds (20 s)
        fake.set_ticker(ETH, lastTime=bot.clock.now() - timedelta(hours=1))
        for _ in range(6):
            _tick(bot)
        fake.clear_ticker(ETH)
        expected.append(OpsAlert.STALE_DATA)

        # the dead man's switch refresh fails once, then tickers fail three ticks in a row
        fake.inject("status", path="cancelallordersafter", times=1, status=500)
        _tick(bot, seconds=bot.cfg.loop.dead_man_switch_seconds / 4)  # the arm is due
        expected.append("dead_man_switch_refresh_failed")
        fake.inject("status", path="/fills", times=3 * 3, status=500)  # the fill poll fails (with its retries)
        for _ in range(3):
            assert not _tick(bot)
        expected.append(OpsAlert.TICK_FAILURES)
        _tick(bot)

        # an outage longer than the dead man's switch: it may have fired
        bot.clock.advance(timedelta(seconds=3 * bot.cfg.loop.dead_man_switch_seconds))
        _tick(bot)
        expected.append("dead_man_switch_fired")

        # the store cannot be written: the alert goes out, the loop halts (protected)
        disk = DiskFull(bot.store.engine)
        disk.fill()
        try:
            with pytest.raises(StoreError):
                _slow(bot, bot.signal(ETH))
        finally:
            disk.free()
        expected.append(OpsAlert.STORE_WRITE_FAILED)
        ops.halted("store failure")
        expected.append(OpsAlert.HALT)
        _flushed(ops)
    got = receiver.all()
    kinds = Counter(r.kind for r in got)
    assert set(expected) <= set(kinds), f"missing: {set(expected) - set(kinds)}; got {kinds}"
    assert [k for k, n in kinds.items() if n > 1] == [], kinds
    for r in got:
        text = r.title + r.message
        for secret in (*SECRETS, HOOK_TOKEN):
            assert secret not in text, f"{r.kind} carries a secret"


def test_daily_summary_goes_out_once_at_its_utc_time_with_equity_positions_and_fees(bot: Bot) -> None:
    sent: list[tuple[str, str]] = []

    def notify(title: str, body: str) -> bool:
        sent.append((title, body))
        return True

    alerts = AlertsConfig(urls=["json://127.0.0.1:9/unused"], daily_summary_utc="12:01")
    bot.cfg = bot.cfg.model_copy(update={"ops": OpsConfig(alerts=alerts)})
    with ops_runtime(bot.cfg, mode="paper", clock=bot.clock, notify=notify) as ops:
        _start(bot, ops)
        _slow(bot, bot.signal(BTC))  # 12:00: before its time
        _tick(bot, seconds=30)
        _tick(bot, seconds=30)  # 12:01:00: due
        _tick(bot, seconds=30)
        _flushed(ops)
    summaries = [body for title, body in sent if "] daily_summary" in title]
    assert len(summaries) == 1
    [summary] = summaries
    fills = bot.store.fills()
    assert summary.startswith(f"equity {bot.store.equity_rows()[-1][1]:,.2f} USD, available margin ")
    assert f"fills 24h: {len(fills)}, fees {float(sum(f.fee_usd for f in fills)):,.2f} USD" in summary
    [held] = bot.store.latest_positions()
    assert "PnL 24h " in summary
    assert summary.endswith(f"positions: {BTC} long {held.size:g} ({held.notional_usd:,.0f} USD)")
