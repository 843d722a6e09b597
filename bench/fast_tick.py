"""The live fast tick's in-process cost over Kraken's real 300-contract tickers answer.

``python -m bench.fast_tick [--out bench/fast_tick.json] [--repeat 400] [--profile]``

Replays Kraken's recorded ``/derivatives/api/v3/tickers`` body (300 contracts, 2026-08-08 14:45 UTC,
``src/krakenbot/testing/data/kraken-futures-tickers-2026-08-08T1445Z.json``) through the same code the
live loop runs, with no HTTP: the ccxt Kraken Futures instance inside ``KrakenClient`` answers
``publicGetTickers`` with the decoded body and ``publicGetInstruments`` with one instrument per contract of
the answer (cloned from Kraken's recorded PF_/PI_ entries), so ccxt's markets are loaded as in live.

Stages, each timed alone per repetition (wall clock, ``perf_counter_ns``; CPU-bound, so wall ~ CPU on an idle
core, but the machine is shared and p99 carries the other processes' noise):

- ``decode``: ``json.loads`` of the body bytes (the transport's work, identical before and after).
- ``parse_ccxt``: the old parsing path, kept for reference: ccxt's ``parse_tickers`` (a full unified ticker
  per contract) then Krakenbot's ``futures_tickers_from_raws`` on each ``info``.
- ``parse``: what ``get_futures_tickers_bulk`` parses with now (the answer -> domain ``Ticker`` list).
- ``normalise``: ``normalize_futures_tickers`` (``FuturesTickers``: every key form) of the parsed tickers.
- ``bulk``: ``KrakenClient.get_futures_tickers_bulk()`` end to end (parse + normalise + the dropped-contract
  report), the decoded answer handed over by the stubbed transport: the issue's "ticker parsing and
  normalisation" figure.
- ``shock``: ``ShockGuard.update_mark_prices`` with the 300 marks and index prices (a 120 s ring of 1 s ticks,
  warmed up; one symbol shocked early so a pause is in force).
- ``exposure``: ``ShockGuard.active`` + ``ShockGuard.evaluate`` on 20 open positions with per-symbol
  maintenance rates (the loop's exposure check while a shock is active).
- ``shock_exposure``: the two above together (target < 1 ms).

Figures: median and p99 in milliseconds per stage, wall clock and this thread's CPU time (``thread_time_ns``:
the time the stage ran, without the waits for a core other processes hold), plus CPU seconds of the whole run;
``--profile`` adds cProfile's top functions of ``bulk`` and ``shock_exposure``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import logging
import math
import platform
import pstats
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from krakenbot.config.models import RiskConfig
from krakenbot.domain import AccountState, Position, SimulatedClock
from krakenbot.domain.signals import Side
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.exchange.kraken.symbols import futures_tickers_from_raws, normalize_futures_tickers
from krakenbot.risk.shock_guard import ShockGuard
from krakenbot.testing.kraken_replay import TICKERS_FILE, replay_client

REPO = Path(__file__).resolve().parents[1]
N_POSITIONS = 20


def _parse_ccxt(client: KrakenClient, body: dict[str, Any]) -> list[Any]:
    """The parsing path ``get_futures_tickers_bulk`` used before issue #14 (ccxt's unified tickers first)."""
    raw = client.futures.parse_tickers(client.futures.safe_list(body, "tickers"))
    tickers, _ = futures_tickers_from_raws(
        ((t.get("info") or {}) if isinstance(t, dict) else t, u if "/" in u else None) for u, t in raw.items())
    return tickers


def _parse_current(client: KrakenClient, body: dict[str, Any]) -> list[Any]:
    parse = getattr(client, "_tickers_from_raws", None)
    if parse is None:  # the code before issue #14: parsing went through ccxt
        return _parse_ccxt(client, body)
    tickers, _ = parse(body["tickers"])
    return list(tickers)


def _time(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (this thread's) milliseconds of each call."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        fn()
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - start) / 1e6)
    return wall, cpu


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _summary(times: tuple[list[float], list[float]]) -> dict[str, float]:
    wall, cpu = sorted(times[0]), sorted(times[1])
    return {"median_ms": round(statistics.median(wall), 4), "p99_ms": round(_p99(wall), 4),
            "min_ms": round(wall[0], 4), "cpu_median_ms": round(statistics.median(cpu), 4),
            "cpu_p99_ms": round(_p99(cpu), 4), "n": len(wall)}


class ShockScenario:
    """A warmed-up ShockGuard over the 300 contracts, one tick per second, a pause in force."""

    def __init__(self, body: dict[str, Any], start: datetime) -> None:
        self.symbols = [t["symbol"] for t in body["tickers"]]
        self.marks = {t["symbol"]: float(t["markPrice"]) for t in body["tickers"] if t.get("markPrice")}
        self.index = {t["symbol"]: float(t["indexPrice"]) for t in body["tickers"] if t.get("indexPrice")}
        self.guard = ShockGuard(RiskConfig(), self.symbols)
        self.now = start
        held = [s for s in self.symbols if s.startswith("PF_") and s in self.marks][:N_POSITIONS]
        self.positions = [Position(symbol=s, side=Side.LONG if i % 2 else Side.SHORT, size=1.0,
                                   entry_price=self.marks[s], ts_opened=start - timedelta(hours=1))
                          for i, s in enumerate(held)]
        self.rates = dict.fromkeys(held, 0.01)
        self.account = AccountState(equity_usd=1e9, available_margin_usd=9e8, initial_margin_usd=1e6,
                                    maintenance_margin_usd=5e5, ts=start)
        for _ in range(70):  # fill the 60 s lookback
            self.shock()
        self.marks[held[0]] *= 1.10  # one flash move: a pause lasts the cooldown
        self.shock()
        self.marks[held[0]] /= 1.10
        assert self.guard.active(self.now), "the scenario's shock did not register"

    def shock(self) -> None:
        self.now += timedelta(seconds=1)
        self.guard.update_mark_prices(self.now, self.marks, self.index)

    def exposure(self) -> None:
        if self.guard.active(self.now):
            self.guard.evaluate(self.positions, self.account, self.now, maintenance_margin_rate=self.rates)

    def both(self) -> None:
        self.shock()
        self.exposure()


def _profile(fn: Callable[[], object], repeat: int, top: int = 12) -> list[str]:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeat):
        fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    rows = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(rows) if line.lstrip().startswith("ncalls"))
    return rows[start:start + top + 1]


def run(repeat: int, profile: bool) -> dict[str, Any]:
    logging.disable(logging.WARNING)  # the scenario's shock and the dropped contracts would log each tick
    raw = TICKERS_FILE.read_bytes()
    body = json.loads(raw)
    server = datetime.fromisoformat(body["serverTime"].replace("Z", "+00:00"))
    clock = SimulatedClock(server)
    client = replay_client(body, clock)
    parsed = _parse_current(client, body)
    scenario = ShockScenario(body, server)
    stages: dict[str, Callable[[], object]] = {
        "decode": lambda: json.loads(raw),
        "parse_ccxt": lambda: _parse_ccxt(client, body),
        "parse": lambda: _parse_current(client, body),
        "normalise": lambda: normalize_futures_tickers(parsed),
        "bulk": client.get_futures_tickers_bulk,
        "shock": scenario.shock,
        "exposure": scenario.exposure,
        "shock_exposure": scenario.both,
    }
    for fn in stages.values():  # warm-up (caches, ccxt's lazy bits)
        for _ in range(5):
            fn()
    cpu0 = time.process_time()
    figures = {name: _summary(_time(fn, repeat)) for name, fn in stages.items()}
    cpu = time.process_time() - cpu0
    tickers = client.get_futures_tickers_bulk()
    result: dict[str, Any] = {
        "payload": TICKERS_FILE.name, "contracts": len(body["tickers"]), "tickers_kept": len(tickers.contracts),
        "keys": len(tickers), "repeat": repeat, "cpu_seconds_timed": round(cpu, 3), "stages": figures,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                    "processor": platform.processor() or platform.machine(), "note":
                    "2 cores shared with other agents: medians hold, p99 carries their noise"},
        "gc_enabled": gc.isenabled(),
    }
    if profile:
        result["profile"] = {"bulk": _profile(client.get_futures_tickers_bulk, 100),
                             "shock_exposure": _profile(scenario.both, 300)}
    logging.disable(logging.NOTSET)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "fast_tick.json")
    parser.add_argument("--repeat", type=int, default=400, help="timed repetitions per stage")
    parser.add_argument("--profile", action="store_true", help="add cProfile's top functions")
    args = parser.parse_args(argv)
    result = run(args.repeat, args.profile)
    print(f"fast tick over {result['contracts']} contracts ({result['tickers_kept']} kept, {result['keys']} keys), "
          f"{args.repeat} repetitions per stage")
    print(f"{'stage':<16}{'median ms':>11}{'p99 ms':>10}{'cpu median':>12}{'cpu p99':>10}")
    for name, fig in result["stages"].items():
        print(f"{name:<16}{fig['median_ms']:>11.3f}{fig['p99_ms']:>10.3f}"
              f"{fig.get('cpu_median_ms', math.nan):>12.3f}{fig.get('cpu_p99_ms', math.nan):>10.3f}")
    for name, rows in result.get("profile", {}).items():
        print(f"\nprofile {name} (tottime):")
        print("\n".join(rows))
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
