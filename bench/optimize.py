"""Study throughput (issue 16): trials per minute with 1 and 2 Dask workers, per-trial time, scheduler overhead.

The study: the shipped demo's 8 symbols (9 days of 1-minute candles), 15m signals, TrendStrategy with a
20-bar slow EMA, 3 anchored folds, the search space of ``tests/research/study_space.yaml``; a fresh SQLite
storage per run. For each worker count W (a LocalCluster of W single-threaded processes, started before the
clock runs) it reports:

- ``trials_per_min``: trials / the study's wall time (asks, batches, tells; the out-of-sample re-runs of the
  best 5 and the verdict are timed apart as ``finish_s``);
- ``trial_s``: mean seconds of one trial on its worker (3 fold backtests), ``trial_s_max`` the slowest;
- ``trial_cv``: the trials' coefficient of variation (standard deviation / mean of their seconds);
- ``straggler``: mean over batches of (slowest trial / mean trial) in the batch: the batch waits for its slowest;
- ``batch_overhead_s``: per batch, (wall - the sum over batches of the batch's slowest trial) / batches: what
  is not a backtest on the critical path: the driver (ask, tell, storage writes), the scheduler, transfers;
- ``task_roundtrip_ms``: a no-op Dask task's submit-to-result time (200 in sequence): the scheduler's own part.

``python -m bench.optimize [--trials N] [--workers 1,2] [--out bench/optimize.json]`` (``--from FILE``:
the model again from a saved run's rows). The machine's load
average is recorded: other work on the cores inflates the wall figures (the README's caveat).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from statistics import NormalDist
from typing import Any

from distributed import Client, LocalCluster

from krakenbot.config.loader import parse_config
from krakenbot.config.paths import DEMO_DATA_DIR
from krakenbot.research.space import SearchSpace
from krakenbot.research.study import StudyPlan, detail, run_study

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "tests" / "research" / "study_space.yaml"
CONFIG = """
universe:
  symbols: [ADA/USD, BTC/USD, DOGE/USD, DOT/USD, ETH/USD, LINK/USD, LTC/USD, XRP/USD]
strategy:
  class_path: krakenbot.strategy.trend:TrendStrategy
  timeframe: 15m
  params: {fast_span: 6, slow_span: 20}
risk: {shock_marketwide_count: 3}
logging: {level: ERROR}
"""


def _noop(x: int) -> int:
    return x


def roundtrip_ms(client: Client, n: int = 200) -> float:
    """Median milliseconds of a no-op task, submitted and awaited one at a time."""
    times = []
    for i in range(n):
        began = time.perf_counter()
        client.submit(_noop, i, pure=False).result()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def measure(workers: int, trials: int) -> dict[str, Any]:
    """One study of ``trials`` trials on a fresh LocalCluster of ``workers`` processes (see the module doc)."""
    cfg = parse_config(CONFIG, source="bench/optimize.py")
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        plan = StudyPlan(cfg=cfg, space=SearchSpace.load(SPACE, cfg=cfg), data=DEMO_DATA_DIR,
                         storage=f"sqlite:///{Path(tmp) / 'bench.db'}", study_name="bench", trials=trials,
                         folds=3, min_trades=1, seed=1)
        client.run(lambda: None)  # workers up and connected before the clock runs
        ticks: list[float] = []
        began = time.perf_counter()
        result = run_study(plan, client, on_progress=lambda done, wanted, best: ticks.append(time.perf_counter()))
        total = time.perf_counter() - began
        study_s = ticks[-1] - began
        roundtrip = roundtrip_ms(client)
    seconds = [float(detail(t)["seconds"]) for t in result.trials if "seconds" in detail(t)]
    batches = [seconds[i:i + workers] for i in range(0, len(seconds), workers)]
    straggler = statistics.mean(max(b) / statistics.mean(b) for b in batches if b)
    critical = sum(max(b) for b in batches if b)
    return {"workers": workers, "trials": len(seconds), "study_s": round(study_s, 2),
            "finish_s": round(total - study_s, 2), "trials_per_min": round(len(seconds) / study_s * 60, 1),
            "trial_s": round(statistics.mean(seconds), 3), "trial_s_max": round(max(seconds), 3),
            "trial_cv": round(statistics.pstdev(seconds) / statistics.mean(seconds), 3),
            "straggler": round(straggler, 3), "batches": len(batches),
            "batch_overhead_s": round((study_s - critical) / len(batches), 4),
            "task_roundtrip_ms": round(roundtrip, 2), "loadavg_1m": round(os.getloadavg()[0], 2)}


def fit_overhead(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """(a, b) of batch overhead = a + b x workers, through the measured rows (a line through the first and
    last worker counts; with one row, all of it per trial: (0, overhead))."""
    first, last = rows[0], rows[-1]
    if first["workers"] == last["workers"]:
        return 0.0, first["batch_overhead_s"] / first["workers"]
    b = (last["batch_overhead_s"] - first["batch_overhead_s"]) / (last["workers"] - first["workers"])
    b = max(b, 0.0)
    return max(first["batch_overhead_s"] - b * first["workers"], 0.0), b


def straggler_factor(trial_cv: float, workers: int) -> float:
    """Expected slowest of ``workers`` trial times over their mean, for roughly normal times with coefficient of
    variation ``trial_cv``: 1 + cv x z_N, z_N by Blom's approximation of the largest of N standard normals."""
    if workers <= 1:
        return 1.0
    return 1.0 + trial_cv * NormalDist().inv_cdf((workers - 0.375) / (workers + 0.25))


def model(trial_s: float, trial_cv: float, a: float, b: float, workers: int) -> float:
    """Trials per minute on ``workers`` workers (the scaling model of bench/README.md): a batch of N trials
    lasts its slowest trial, trial_s x straggler_factor(cv, N), plus the driver's batch overhead a + b x N."""
    return workers / (trial_s * straggler_factor(trial_cv, workers) + a + b * workers) * 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "optimize.json")
    parser.add_argument("--from", dest="source", type=Path, help="recompute the model from this JSON's rows")
    args = parser.parse_args(argv)
    if args.source is not None:
        rows = json.loads(args.source.read_text(encoding="utf-8"))["rows"]
    else:
        rows = [measure(int(w), args.trials) for w in args.workers.split(",")]
    for row in rows:
        print(json.dumps(row))
    base = rows[0]
    a, b = fit_overhead(rows)
    projected = {n: round(model(base["trial_s"], base["trial_cv"], a, b, n), 1) for n in (1, 2, 4, 8, 16, 32, 64, 128)}
    print(f"batch overhead = {a:.3f} s + {b:.3f} s x workers; model, trials/min by workers:", json.dumps(projected))
    report = {"rows": rows, "cpus": os.cpu_count(), "overhead_a_s": round(a, 4), "overhead_b_s": round(b, 4),
              "model": projected}
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
