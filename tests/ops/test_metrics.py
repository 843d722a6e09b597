"""``/metrics`` of a bot trading the loopback Kraken, scraped over HTTP and parsed with prometheus-client's
parser: the figures equal the store's (equity, margin, exposure, positions); REST calls and their errors,
orders by outcome and tick durations are counted."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from builders.cli import free_port
from faults.loopback import BTC, ETH, Bot, ticking_bot
from krakenbot.config.models import MetricsConfig, OpsConfig
from krakenbot.domain import Side
from krakenbot.ops.runtime import OpsRuntime, ops_runtime

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with ticking_bot(tmp_path, fast_tick_seconds=None) as opened:
        yield opened


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _told(bot: Bot, kind: str, ok: bool = True) -> None:
    for observer in bot.live.tick_observers:
        observer.tick_done(kind, 0.02, ok)


def _run_with_metrics(bot: Bot) -> Iterator[OpsRuntime]:
    port = free_port()
    cfg = bot.cfg.model_copy(update={"ops": OpsConfig(metrics=MetricsConfig(enabled=True, port=port))})
    with ops_runtime(cfg, mode="live", clock=bot.clock) as ops:
        bot.start(journal=ops.wrap_journal(bot.store))
        assert bot.client is not None
        bot.client.observer = ops.rest_observer  # open_loop passes it to the client it builds
        ops.attach(bot.live)
        yield ops


def test_scraped_metrics_equal_the_stores_figures(bot: Bot) -> None:
    fake = bot.fake
    for ops in _run_with_metrics(bot):
        bot.signals.next = [bot.signal(BTC, Side.LONG), bot.signal(ETH, Side.SHORT)]
        bot.live.slow_tick()
        _told(bot, "fast")
        _told(bot, "slow")
        assert ops.metrics is not None and ops.metrics.bound_port is not None
        got = _scrape(ops.metrics.bound_port)

        _ts, equity, exposure, initial_margin = bot.store.equity_rows()[-1]
        assert got[("krakenbot_equity_usd", ())] == equity
        assert got[("krakenbot_exposure_usd", ())] == exposure
        assert got[("krakenbot_used_margin_usd", ())] == initial_margin
        positions = bot.store.latest_positions()
        assert {p.symbol for p in positions} == {BTC, ETH}
        for p in positions:
            label = (("symbol", p.symbol),)
            assert got[("krakenbot_position_size", label)] == p.side.sign * p.size
            assert got[("krakenbot_position_notional_usd", label)] == p.notional_usd
            assert got[("krakenbot_position_liquidation_buffer", label)] > 0
            assert got[("krakenbot_shockguard_paused", label)] == 0.0
        assert got[("krakenbot_orders_total", (("status", "filled"),))] == 2  # the two entries
        assert got[("krakenbot_orders_total", (("status", "open"),))] == 2  # their stops
        assert got[("krakenbot_tick_seconds_count", (("kind", "slow"),))] == 1

        # REST calls through the client's observer: counted, and an error by its class
        requests_before = got[("krakenbot_rest_requests_total", (("api", "krakenfutures"),))]
        fake.inject("status", path="/fills", times=3, status=500)  # the fill poll's three tries
        bot.clock.advance(timedelta(seconds=5))
        with pytest.raises(Exception, match="fill_poll"):
            bot.live.fast_tick()
        _told(bot, "fast", ok=False)
        got = _scrape(ops.metrics.bound_port)
        assert got[("krakenbot_rest_requests_total", (("api", "krakenfutures"),))] > requests_before
        assert got[("krakenbot_rest_errors_total", (("api", "krakenfutures"), ("error", "TransientError")))] == 3
        assert got[("krakenbot_tick_failures_total", (("kind", "fast"),))] == 1

        # a position closed on Kraken: its series go at the next good tick
        fake.close_position(ETH, kind="taker")
        bot.tick()
        _told(bot, "fast")
        got = _scrape(ops.metrics.bound_port)
        assert ("krakenbot_position_size", (("symbol", ETH),)) not in got
        assert ("krakenbot_position_size", (("symbol", BTC),)) in got
