"""A user's habits with ``backtest``: any working directory, --version, flags in --help, a timestamped
output folder, Ctrl-C."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from krakenbot import __version__
from krakenbot.cli import app
from krakenbot.cli.backtest_cmd import stamped

REPO = Path(__file__).resolve().parents[2]



@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_embedded_default_backtest_runs_from_another_directory(runner, in_tmp):
    result = runner.invoke(app, ["backtest", "--end", "2021-05-15"])
    assert result.exit_code == 0, result.output
    summary = json.loads((in_tmp / "reports" / "latest" / "summary.json").read_text())
    assert summary["candles"] > 0
    assert len(summary["futures_symbols"]) == 8  # the eight shipped demo files


def test_version_prints_the_package_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"krakenbot {__version__}"


def test_version_matches_pyproject():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'version = {attr = "krakenbot.__version__"}' in text  # one source for the version


@pytest.mark.parametrize(("command", "flags"), [
    (["backtest"], ["--step-every-candle", "--verbose"]),
    (["live"], ["--force"]),
    (["symbols"], ["--json"]),
    ([], ["--version"]),
])
def test_boolean_options_are_shown_as_flags_in_help(runner, command, flags):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    for flag in flags:
        line = next(line for line in result.output.splitlines() if flag in line)
        assert re.search(rf"{flag}\s{{2,}}\S", line), line  # the help text follows, no value placeholder


def test_stamped_out_replaces_ts_and_never_reuses_a_folder(tmp_path):
    now = datetime(2026, 1, 5, 14, 30, 0, tzinfo=UTC)
    first = stamped(tmp_path / "reports" / "{ts}", now)
    assert first == tmp_path / "reports" / "20260105-143000"
    first.mkdir(parents=True)
    assert stamped(tmp_path / "reports" / "{ts}", now) == tmp_path / "reports" / "20260105-143000-2"
    assert stamped(tmp_path / "plain", now) == tmp_path / "plain"


def test_timestamped_out_keeps_earlier_runs(runner, in_tmp):
    args = ["backtest", "--start", "2021-05-14", "--end", "2021-05-14", "--out", "runs/{ts}"]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0
    runs = sorted((in_tmp / "runs").iterdir())
    assert len(runs) == 2
    assert all((run / "summary.json").exists() for run in runs)


def test_ctrl_c_during_the_run_says_nothing_was_written_and_exits_130(runner, in_tmp, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("krakenbot.backtest.engine.run_backtest", interrupted)
    result = runner.invoke(app, ["backtest", "--out", "out"])
    assert result.exit_code == 130
    assert "no output written (out untouched)" in result.output
    assert not (in_tmp / "out").exists()


def test_ctrl_c_while_writing_says_where_the_report_is_and_exits_130(runner, in_tmp, monkeypatch):
    args = ["backtest", "--start", "2021-05-14", "--end", "2021-05-14", "--out", "out"]
    assert runner.invoke(app, args).exit_code == 0

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("krakenbot.backtest.report.write_report", interrupted)
    result = runner.invoke(app, args)
    assert result.exit_code == 130
    assert "out holds either its previous report or the complete new one" in result.output
    assert (in_tmp / "out" / "summary.json").exists()


@pytest.mark.slow
def test_sigint_to_a_running_backtest_process_exits_130_with_nothing_written(tmp_path):
    """A real Ctrl-C: SIGINT once the loop is logging (so the run is under way, not importing)."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "backtest", "-v", "--step-every-candle",
                             "--out", str(tmp_path / "out")], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        assert "Auction:" in proc.stderr.readline()  # the loop is running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "no output written" in err
    assert not (tmp_path / "out").exists()
