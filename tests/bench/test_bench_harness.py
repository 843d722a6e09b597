"""The benchmark harness runs end to end in its --quick mode (a smoke check: nothing here is timed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench_run(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(REPO))
    import bench.run

    return bench.run


def test_quick_run_appends_an_entry_and_keeps_the_earlier_ones(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    earlier = {"command": "python -m bench.run", "ts_utc": "2026-11-24T08:55:07Z", "scale": [], "peers": {}}
    out.write_text(json.dumps(earlier))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--skip-peers", "--sections", "ema,growth,symbols,demo",
         "--growth-sizes", "3000,6000", "--symbols", "1,2", "--rounds", "2", "--label", "harness test",
         "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["history"][0] == earlier  # the older single-report layout became the first entry
    assert len(doc["history"]) == 2 and doc["latest"] == doc["history"][1]
    entry = doc["latest"]
    assert entry["mode"] == "quick" and entry["label"] == "harness test" and entry["machine"]["cpu_count"]
    kb = entry["ema"]["engines"]["krakenbot"]
    assert kb["trades"] > 0 and kb["peak_rss_mb"] > 0 and entry["ema"]["fresh_process_per_engine"]
    assert entry["ema"]["rounds"] == 2 and len(kb["cpu_seconds_rounds"]) == 2
    assert kb["cpu_seconds"] == sorted(kb["cpu_seconds_rounds"])[0]  # two rounds: the lower median
    assert [r["candles"] for r in entry["growth"]["rows"]] == [3000, 6000]
    assert [r["symbols"] for r in entry["symbols"]["rows"]] == [1, 2]
    assert entry["symbols"]["rows"][1]["exponent"] is not None
    assert entry["demo"]["candles"] > 0
    assert "Side by side" in proc.stdout and "Scale across symbols" in proc.stdout


def test_nautilus_is_skipped_with_a_note_when_no_interpreter_has_it(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    run = _bench_run(monkeypatch)
    from bench.compare import nautilus_python

    monkeypatch.delenv("BENCH_NAUTILUS_PYTHON", raising=False)
    fake = tmp_path / "python-without-nautilus"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    python, note = nautilus_python(str(tmp_path / "missing-python"))
    assert python is None
    assert "NautilusTrader skipped" in note and "Python >= 3.12" in note and "--nautilus-python" in note
    assert run.SECTIONS[0] == "ema"


def test_unknown_section_is_refused_naming_the_choices(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = _bench_run(monkeypatch)
    with pytest.raises(SystemExit):
        run.main(["--quick", "--sections", "ema,warp"])
    err = capsys.readouterr().err
    assert "warp" in err and "realistic" in err


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if "==" in spec:
            name, version = spec.split("==", 1)
            pins[name.strip().lower().replace("_", "-").replace(".", "-")] = version.strip()
    return pins


def test_bench_constraints_agree_with_the_main_constraints() -> None:
    """bench/README.md installs with both files (-c constraints.txt -c constraints-bench.txt): a package pinned
    at two versions makes that command fail (ResolutionImpossible), so any package the two share is pinned alike."""
    main, bench = _pins(REPO / "constraints.txt"), _pins(REPO / "constraints-bench.txt")
    differ = {name: (main[name], bench[name]) for name in main.keys() & bench.keys() if main[name] != bench[name]}
    assert not differ, f"pinned differently in constraints.txt and constraints-bench.txt: {differ}"


def test_the_nautilus_venv_installs_from_its_own_pins() -> None:
    """NautilusTrader 1.231 runs in its own Python 3.12 venv and pins some dependencies exactly (fsspec==2026.2.0)
    where the main constraints pin others (Dask's fsspec): installing it with -c constraints.txt fails
    (ResolutionImpossible). Its install line uses constraints-nautilus.txt alone, which pins the same
    nautilus_trader as the bench extra, and the docs show that line."""
    nautilus, bench = _pins(REPO / "constraints-nautilus.txt"), _pins(REPO / "constraints-bench.txt")
    assert nautilus["nautilus-trader"] == bench["nautilus-trader"]
    for doc in ("README.md", "bench/README.md", "constraints-bench.txt"):
        lines = [line for line in (REPO / doc).read_text().splitlines() if ".venv-nautilus/bin/pip install" in line]
        assert lines, f"{doc} shows no NautilusTrader install line"
        for line in lines:
            assert "-c constraints-nautilus.txt" in line and "constraints.txt " not in line.replace(
                "constraints-nautilus.txt", ""), f"{doc}: {line.strip()}"


def _summary(cpu: float, *, trades: int = 7, pnl: float = -1.5) -> dict[str, object]:
    return {"engine": "x", "seconds": cpu + 0.25, "cpu_seconds": cpu, "trades": trades, "net_pnl_usd_exact": pnl,
            "peak_rss_mb": 100.0 + cpu}


def test_an_engine_reports_its_median_round_with_every_round_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    from bench.compare import median_round

    out = median_round([_summary(3.0), _summary(1.0), _summary(2.0)])
    assert out["cpu_seconds"] == 2.0 and out["seconds"] == 2.25 and out["peak_rss_mb"] == 102.0  # one run, whole
    assert out["cpu_seconds_rounds"] == [3.0, 1.0, 2.0] and out["seconds_rounds"] == [3.25, 1.25, 2.25]
    assert out["rounds"] == 3
    assert median_round([_summary(5.0)])["cpu_seconds"] == 5.0


def test_rounds_that_disagree_on_the_trades_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    from bench.compare import median_round

    with pytest.raises(RuntimeError, match=r"round 2 gave trades 8, round 1 gave trades 7"):
        median_round([_summary(1.0), _summary(2.0, trades=8)])
    with pytest.raises(RuntimeError, match="net_pnl_usd_exact"):
        median_round([_summary(1.0), _summary(2.0, pnl=-1.25)])
