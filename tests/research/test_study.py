"""A small study on the shipped demo (12 trials, 3 folds, BTC and ETH, 15m signals) on a LocalCluster of 2 worker
processes: its report, its determinism, resuming it, SQLite vs PostgreSQL, and a worker killed mid-trial."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from distributed import Client
from optuna.trial import TrialState

from krakenbot.config.loader import load_config
from krakenbot.config.paths import DEMO_DATA_DIR
from krakenbot.domain.errors import ConfigError
from krakenbot.research.report import write_study_report
from krakenbot.research.space import SearchSpace
from krakenbot.research.storage import open_storage, study_storage_url
from krakenbot.research.study import (
    StudyPlan,
    StudyResult,
    counted,
    detail,
    load_or_create,
    run_study,
)
from krakenbot.store.sql import SqlStore

HERE = Path(__file__).parent
TRIALS = 12


def plan(storage: str, **changes: Any) -> StudyPlan:
    """The test study: 12 trials, 3 anchored folds over the demo's two symbols, seed 7."""
    cfg = load_config(HERE / "study_config.yaml")
    fields: dict[str, Any] = {"cfg": cfg, "space": SearchSpace.load(HERE / "study_space.yaml", cfg=cfg),
                              "data": DEMO_DATA_DIR,
                              "storage": storage, "study_name": "demo", "trials": TRIALS, "folds": 3,
                              "min_trades": 1, "seed": 7}
    return StudyPlan(**{**fields, **changes})


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'studies.db'}"


def finished(result: StudyResult) -> list[tuple[dict[str, Any], float | None]]:
    """(params, value) of the complete trials, in the order they were asked."""
    return [(t.params, t.value) for t in result.trials if t.state == TrialState.COMPLETE]


@pytest.fixture(scope="module")
def reference(client: Client, tmp_path_factory: pytest.TempPathFactory) -> StudyResult:
    """The study run once, uninterrupted, on SQLite."""
    return run_study(plan(sqlite_url(tmp_path_factory.mktemp("reference"))), client)


def test_study_of_12_trials_runs_on_two_workers_loading_data_once_per_worker(reference: StudyResult) -> None:
    complete = [t for t in reference.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == TRIALS == len(reference.trials)
    assert len({detail(t)["worker"] for t in complete}) == 2  # both workers ran trials
    assert sum(detail(t)["loaded_data"] for t in complete) <= 2  # once per worker, not once per trial
    assert all(len(detail(t)["fold_scores"]) == 3 for t in complete)
    assert reference.best.value == max(t.value for t in complete if t.value is not None)
    assert sorted(reference.oos) == sorted(t.number for t in sorted(complete, key=lambda t: -(t.value or 0))[:5])
    assert all(len(o.fold_scores) == 3 for o in reference.oos.values())
    assert reference.oos[reference.best.number].equity  # the winner's out-of-sample equity, for the report


def test_report_writes_html_best_yaml_ready_to_backtest_and_trials_csv(reference: StudyResult, tmp_path: Path) -> None:
    paths = write_study_report(reference, tmp_path / "study")
    assert load_config(paths["best.yaml"]) == reference.best_cfg
    trials = pd.read_csv(paths["trials.csv"])
    assert list(trials["number"]) == list(range(TRIALS)) and set(trials["state"]) == {"COMPLETE"}
    assert {"p:strategy.params.fast_span", "is_score_fold2", "worker"} <= set(trials.columns)
    page = paths["report.html"].read_text(encoding="utf-8")
    assert "Verdict:" in page and "Plotly" in page and "<script src=" not in page  # offline: plotly.js inline
    for div_id in ("history", "importance", "parallel", "folds", "equity"):
        assert f'id="{div_id}"' in page or f"{div_id}: not available" in page
    write_study_report(reference, tmp_path / "study")  # a rerun replaces its own report
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a Krakenbot report folder"):
        write_study_report(reference, tmp_path / "other")


def test_same_seed_and_worker_count_give_the_same_trials(client: Client, reference: StudyResult,
                                                         tmp_path: Path) -> None:
    again = run_study(plan(sqlite_url(tmp_path)), client)
    assert finished(again) == finished(reference)
    assert again.best.params == reference.best.params


def test_sqlite_and_postgresql_give_the_same_best_params(client: Client, reference: StudyResult, pg_url: str) -> None:
    on_postgres = run_study(plan(pg_url), client)
    assert on_postgres.best.params == reference.best.params
    assert finished(on_postgres) == finished(reference)


def _interrupt_when(condition: Any, storage: str) -> threading.Thread:
    """A thread that sends SIGINT (Ctrl-C) to the main thread once ``condition(states)`` holds, ``states`` being
    the count of the study's trials by state name (read with plain SQL: the driver owns the storage)."""
    main = threading.main_thread().ident
    assert main is not None

    def watch() -> None:
        engine = sa.create_engine(storage, poolclass=sa.pool.NullPool)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                try:
                    with engine.connect() as conn:
                        states = dict(conn.execute(sa.text("SELECT state, count(*) FROM trials GROUP BY state")).all())
                except sa.exc.SQLAlchemyError:  # not created yet
                    states = {}
                if condition(states):
                    signal.pthread_kill(main, signal.SIGINT)
                    return
                time.sleep(0.005)
        finally:
            engine.dispose()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_interrupted_study_resumes_to_the_same_trials(client: Client, reference: StudyResult, tmp_path: Path) -> None:
    storage = sqlite_url(tmp_path)
    # Ctrl-C as Python answers it (another in-process command of the suite may have left its own handler)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        watcher = _interrupt_when(lambda states: states.get("COMPLETE", 0) >= 4 and states.get("RUNNING", 0) > 0,
                                  storage)
        with pytest.raises(KeyboardInterrupt):
            run_study(plan(storage), client)
        watcher.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    stored = optuna.load_study(study_name="demo", storage=open_storage(storage)).get_trials()
    assert not [t for t in stored if t.state == TrialState.RUNNING]  # the batch in flight was abandoned
    assert 4 <= sum(counted(t) for t in stored) < TRIALS
    resumed = run_study(plan(storage), client)
    assert sum(counted(t) for t in resumed.trials) == TRIALS
    assert finished(resumed) == finished(reference)
    assert resumed.best.params == reference.best.params


def test_trials_a_stopped_driver_left_running_are_abandoned_and_asked_again(client: Client, reference: StudyResult,
                                                                          tmp_path: Path) -> None:
    storage = sqlite_url(tmp_path)
    study = load_or_create(open_storage(storage), "demo", seed=7)
    study.sampler = optuna.samplers.TPESampler(seed=7)  # the first batch's sampler, as the driver sets it
    space = SearchSpace.load(HERE / "study_space.yaml")
    left = [study.ask() for _ in range(2)]  # asked by a driver killed (kill -9) before telling them
    params = [space.suggest(trial) for trial in left]
    result = run_study(plan(storage, trials=4), client)
    by_number = {t.number: t for t in result.trials}
    assert [by_number[t.number].state for t in left] == [TrialState.FAIL, TrialState.FAIL]
    assert all(by_number[t.number].user_attrs["abandoned"] for t in left)
    rerun = [t for t in result.trials if t.state == TrialState.COMPLETE]
    assert [t.params for t in rerun[:2]] == params  # nothing lost: the same parameters ran
    assert finished(result) == finished(reference)[:4]
    assert sum(counted(t) for t in result.trials) == 4


def test_a_worker_killed_mid_trial_loses_nothing(client: Client, reference: StudyResult, tmp_path: Path) -> None:
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            outcome["result"] = run_study(plan(sqlite_url(tmp_path)), client)
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    driver = threading.Thread(target=drive)
    driver.start()
    pids: dict[str, int] = client.run(os.getpid)
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and driver.is_alive():
        for address, keys in client.processing().items():
            if any(str(key).startswith("krakenbot-trial-") for key in keys) and address in pids:
                killed = address
                os.kill(pids[address], signal.SIGKILL)
                break
        time.sleep(0.002)
    driver.join(120)
    assert killed is not None, "no trial was seen running on a worker"
    assert "error" not in outcome, outcome.get("error")
    result: StudyResult = outcome["result"]
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * TRIALS
    assert finished(result) == finished(reference)


def test_storage_lives_beside_the_store_in_tables_of_its_own(tmp_path: Path) -> None:
    assert study_storage_url("sqlite:////data/krakenbot.db") == "sqlite:////data/krakenbot-studies.db"
    assert study_storage_url("postgresql+psycopg://bot@db/krakenbot") == (
        "postgresql+psycopg://bot@db/krakenbot?options=-csearch_path%3Dkrakenbot_studies")
    store_url = f"sqlite:///{tmp_path / 'krakenbot.db'}"
    SqlStore(store_url).close()  # the trading store: its own Alembic revision
    with pytest.raises(ConfigError, match="not an Optuna study database"):
        open_storage(store_url)


def test_space_file_values_reach_the_best_config(reference: StudyResult) -> None:
    space = yaml.safe_load((HERE / "study_space.yaml").read_text(encoding="utf-8"))
    assert set(reference.best.params) == set(space)
    assert reference.best_cfg.strategy.params["fast_span"] == reference.best.params["strategy.params.fast_span"]
    assert reference.best_cfg.risk.max_leverage == reference.best.params["risk.max_leverage"]
