"""``symbols`` on a saved Kraken Futures tickers body: the function, a local Typer app, and run.py as a process."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from builders.kraken import futures_ticker_raw, futures_tickers_body
from krakenbot.cli.symbols_cmd import register, symbols_command
from krakenbot.config.models import AppConfig, UniverseConfig
from krakenbot.exchange.kraken.symbols import parse_futures_tickers_payload

REPO = Path(__file__).resolve().parents[2]
BODY = futures_tickers_body(
    futures_ticker_raw("PI_XBTUSD", mark=60_010.0),
    futures_ticker_raw("PF_XBTUSD", mark=60_000.0),
    futures_ticker_raw("PF_LUNA2USD", mark=0.5),
    futures_ticker_raw("PF_SUSPUSD", suspended=True),
)


@pytest.fixture
def tickers_file(tmp_path) -> Path:
    path = tmp_path / "tickers.json"
    path.write_text(json.dumps(BODY))
    return path


def run_json(capsys, tickers_file, spot, config=None) -> list[dict]:
    code = symbols_command(tickers_file, spot, True, config or AppConfig(), None)
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_symbols_json_one_object_per_pair_as_given(capsys, tickers_file):
    rows = run_json(capsys, tickers_file, ["BTC/USD", "XBT/USD", "LUNA2/USD", "SUSP/USD", "LUNA/USD"])
    assert [r["spot"] for r in rows] == ["BTC/USD", "XBT/USD", "LUNA2/USD", "SUSP/USD", "LUNA/USD"]
    assert rows[0] == {"spot": "BTC/USD", "futures": "PF_XBTUSD", "unified": "BTC/USD:USD", "reason": None}
    assert rows[1]["futures"] == "PF_XBTUSD"
    assert rows[2]["futures"] == "PF_LUNA2USD"
    assert rows[3]["futures"] is None and rows[3]["unified"] is None and "suspended" in rows[3]["reason"]
    assert rows[4]["futures"] is None and "ambiguous" in rows[4]["reason"]


def test_symbols_without_spot_uses_config_universe_and_overrides(capsys, tickers_file):
    config = AppConfig(universe=UniverseConfig(symbols=["ETH/USD", "LUNA/USD"],
                                               futures_overrides={"LUNA/USD": "PF_LUNA2USD"}))
    rows = run_json(capsys, tickers_file, [], config)
    assert [(r["spot"], r["futures"]) for r in rows] == [("ETH/USD", None), ("LUNA/USD", "PF_LUNA2USD")]


def test_symbols_table_lists_contract_and_reason(capsys, tickers_file):
    assert symbols_command(tickers_file, ["BTC/USD", "NOPE/USD"], False, AppConfig(), None) == 0
    out = capsys.readouterr().out
    assert "PF_XBTUSD" in out and "BTC/USD:USD" in out
    assert "no futures contract on NOPE" in out


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such tickers file"),
    ("{not json", "not JSON"),
    (json.dumps({"result": "error", "error": "apiLimitExceeded"}), "apiLimitExceeded"),
    (json.dumps({"instruments": []}), "no 'tickers' list"),
])
def test_symbols_bad_tickers_file_names_file_and_exits_2(capsys, tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    assert symbols_command(path, ["BTC/USD"], True, AppConfig(), None) == 2
    err = capsys.readouterr().err
    assert str(path) in err.replace("\n", "") and message in err.replace("\n", "")


def test_symbols_without_file_uses_loader(capsys):
    calls = []

    def loader():
        calls.append(1)
        return parse_futures_tickers_payload(BODY)

    assert symbols_command(None, ["BTC/USD"], True, AppConfig(), loader) == 0
    assert calls == [1]
    assert json.loads(capsys.readouterr().out)[0]["futures"] == "PF_XBTUSD"


def test_symbols_typer_command_repeated_spot_and_json(tickers_file):
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps Typer from collapsing the app into one command
        """Unused."""

    runner = CliRunner()
    result = runner.invoke(app, ["symbols", "--tickers-file", str(tickers_file), "--spot", "BTC/USD",
                                 "--spot", "XBT/USD", "--json"])
    assert result.exit_code == 0, result.output
    assert [r["futures"] for r in json.loads(result.stdout)] == ["PF_XBTUSD", "PF_XBTUSD"]
    missing = runner.invoke(app, ["symbols", "--tickers-file", str(tickers_file.parent / "nope.json")])
    assert missing.exit_code == 2


@pytest.mark.slow
def test_run_py_symbols_on_saved_tickers_file(tickers_file):
    result = subprocess.run([sys.executable, str(REPO / "run.py"), "symbols", "--tickers-file", str(tickers_file),
                             "--spot", "BTC/USD", "--json"],
                            capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"spot": "BTC/USD", "futures": "PF_XBTUSD", "unified": "BTC/USD:USD", "reason": None}]
