"""`python run.py config check FILE` as an operator runs it: a real process, exit codes, one line each."""

import subprocess
import sys
from pathlib import Path

import pytest

from krakenbot.config.paths import DEFAULT_CONFIG_PATH

pytestmark = pytest.mark.slow  # each test runs `python run.py` as a process

REPO = Path(__file__).resolve().parents[2]


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "run.py"), "config", "check", str(path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=False)


@pytest.mark.parametrize(("body", "expected"), [
    ("risk:\n  shock_move_pc: 0.02\n",
     "risk.shock_move_pc: unknown key 'shock_move_pc'; did you mean 'shock_move_pct'?"),
    ("risk:\n  max_positions: five\n", "risk.max_positions: must be a valid integer"),
    ("risk:\n  shock_move_pct: 2.5\n", "risk.shock_move_pct: must be > 0 and < 1, got 2.5"),
])
def test_config_check_bad_file_prints_one_line_and_exits_2(tmp_path, body, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    result = run_check(path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert "line 2" in lines[0]


def test_config_check_missing_file_exits_2(tmp_path):
    result = run_check(tmp_path / "missing.yaml")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{tmp_path / 'missing.yaml'}: cannot read config (no such file); "
        "pass a YAML file such as config/live.example.yaml"]


def test_config_check_good_file_prints_ok():
    result = run_check(DEFAULT_CONFIG_PATH)
    assert result.returncode == 0
    assert result.stdout.strip() == "OK"


def test_live_without_tty_or_force_refuses():
    result = subprocess.run([sys.executable, str(REPO / "run.py"), "live", "--config", str(DEFAULT_CONFIG_PATH)],
                            capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=120,
                            check=False)
    assert result.returncode == 2
    assert "refusing to trade real money without confirmation" in result.stderr
