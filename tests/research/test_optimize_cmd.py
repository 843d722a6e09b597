"""``run.py optimize`` end to end on the tests' Dask cluster (``--scheduler``), and its refusals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from distributed import LocalCluster
from typer.testing import CliRunner

from builders.logs import root_logging_restored  # noqa: F401  (autouse)
from krakenbot.cli import app
from krakenbot.config.loader import load_config

HERE = Path(__file__).parent


def test_optimize_runs_on_a_dask_scheduler_and_writes_its_report(cluster: LocalCluster, tmp_path: Path) -> None:
    args = ["optimize", "--config", str(HERE / "study_config.yaml"), "--space", str(HERE / "study_space.yaml"),
            "--trials", "4", "--folds", "2", "--min-trades", "1", "--scheduler", cluster.scheduler_address,
            "--storage", f"sqlite:///{tmp_path / 'studies.db'}", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "study: study_config-study_space in sqlite:///" in result.output
    assert "best: trial " in result.output and "verdict: " in result.output
    assert len(pd.read_csv(tmp_path / "out" / "trials.csv")) == 4
    load_config(tmp_path / "out" / "best.yaml")
    again = CliRunner().invoke(app, [*args[:5], "--trials", "5", *args[7:]])  # resumed by name: one more trial
    assert again.exit_code == 0, again.output
    assert "trials run now: 1, in the study: 5" in again.output


def test_optimize_refuses_a_missing_space_file_and_a_bad_fold_mode(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["optimize", "--space", str(tmp_path / "nope.yaml"),
                                       "--storage", f"sqlite:///{tmp_path / 's.db'}"])
    assert missing.exit_code == 2 and "nope.yaml" in missing.output
    bad = CliRunner().invoke(app, ["optimize", "--space", str(HERE / "study_space.yaml"), "--fold-mode", "sideways"])
    assert bad.exit_code == 2 and "--fold-mode: expected anchored or rolling" in bad.output
    unknown = CliRunner().invoke(app, ["optimize", "--config", str(HERE / "study_config.yaml"), "--space",
                                       str(HERE / "study_space.yaml"), "--objective", "profit",
                                       "--storage", f"sqlite:///{tmp_path / 's.db'}"])
    assert unknown.exit_code == 2 and "--objective: expected one of sharpe" in unknown.output
