"""The study: Optuna asks, Dask runs the trials (``research/trial.py``), the RDB storage keeps everything.

How a study runs (``run_study``):

1. The driver (this process) opens the study by name in the storage, creating it or resuming it. Trials a
   stopped driver left RUNNING (Ctrl-C, kill -9, power cut) are failed as ``abandoned`` (not counted).
2. It asks a batch of trials (``batch``: by default the number of worker threads of the cluster), submits
   each as a Dask future, waits for the whole batch, then tells the results in trial-number order, and asks
   the next batch. Before each batch the TPE sampler is re-seeded from (seed, trials complete so far), and
   TPE reads only complete trials (and the batch's own running ones): a seed and a batch size give the same
   trials and the same winner, in one go or stopped anywhere and resumed, on SQLite or PostgreSQL; an
   abandoned batch is asked again with the same parameters, so nothing is lost. A batch waits for its
   slowest trial: that is the price of the determinism (``bench/README.md`` measures it).
3. A trial whose worker died is rescheduled by Dask on another worker; a trial that raised (or whose
   workers kept dying) is submitted again up to ``retries`` times; only then is it failed, with the error
   in its ``error`` attribute. A config the backtest refuses is failed at once (it would fail again).
   ``--trials N`` counts finished trials (complete, or failed for a reason of their own; not the abandoned).
4. The best ``top`` trials (by in-sample value) are re-run on each fold's out-of-sample window; the overfitting
   verdict is computed from the trials' in-sample period returns (see ``study_verdict``).

The storage is the project's database (``storage.study_storage_url``), in tables of its own: a SQLite store's file
with a ``-studies`` suffix, or the PostgreSQL database's schema ``krakenbot_studies`` (the store and Optuna
both version their tables with Alembic, so they cannot share one schema). Watch a running study with
``optuna-dashboard URL``. One driver per study at a time: a second one would abandon the first one's trials.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
from distributed import Client, Future, LocalCluster, wait
from optuna.trial import FrozenTrial, TrialState
from pydantic import ValidationError

from krakenbot.backtest.selection import select_backtest_data
from krakenbot.config.models import TIMEFRAME_MINUTES, AppConfig
from krakenbot.domain.errors import ConfigError
from krakenbot.research.folds import Fold, max_warmup, walk_forward
from krakenbot.research.interrupts import CtrlC
from krakenbot.research.objective import OBJECTIVES
from krakenbot.research.overfit import Verdict, assess
from krakenbot.research.space import SearchSpace
from krakenbot.research.storage import open_storage
from krakenbot.research.trial import TrialOutcome, TrialTask, run_trial

log = logging.getLogger(__name__)

SEED_STRIDE = 7919  # a batch's sampler seed: seed + SEED_STRIDE * (trials finished before it)
PBO_SPLITS = 16
DETAIL = "outcome"  # the user attribute holding a trial's details (see ``detail``)


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyPlan:
    """What to optimise and how. ``cfg``: the base config (its ``backtest.start``/``end`` bound the data used);
    ``trials``: finished trials wanted in the study (a resumed study runs only the missing ones); ``folds``,
    ``fold_mode``, ``oos_fraction``: the walk-forward split; ``objective``/``min_trades``: see
    ``research.objective``; ``top``: best trials re-run out-of-sample; ``retries``: resubmissions of a trial
    that raised or lost its workers."""

    cfg: AppConfig
    space: SearchSpace
    data: Path
    storage: str
    study_name: str
    trials: int = 100
    folds: int = 3
    fold_mode: Literal["anchored", "rolling"] = "anchored"
    oos_fraction: float = 0.25
    objective: str = "sharpe"
    min_trades: int = 5
    seed: int = 0
    top: int = 5
    retries: int = 2
    allow_missing: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.objective not in OBJECTIVES:
            problems.append(f"--objective: expected one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        for name, value, least in (("--trials", self.trials, 1), ("--folds", self.folds, 1),
                                   ("--min-trades", self.min_trades, 0), ("top", self.top, 1),
                                   ("retries", self.retries, 0)):
            if value < least:
                problems.append(f"{name}: must be at least {least}, got {value}")
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyResult:
    """A finished study: its folds, every trial (Optuna's records), the winner and its config, the top trials'
    out-of-sample outcomes by trial number, and the verdict (None with ``verdict_note`` saying why)."""

    name: str
    study: optuna.Study
    folds: tuple[Fold, ...]
    trials: tuple[FrozenTrial, ...]
    best: FrozenTrial
    best_cfg: AppConfig
    oos: dict[int, TrialOutcome]
    verdict: Verdict | None
    verdict_note: str
    ran: int = 0
    seconds: float = 0.0
    objective: str = "sharpe"


ProgressCallback = Callable[[int, int, float | None], None]  # (finished, wanted, best value so far)


@contextmanager
def dask_client(*, workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """A Dask client: on the cluster at ``scheduler`` (``tcp://HOST:8786``), else on a LocalCluster of
    ``workers`` single-threaded worker processes (default: the CPU count), closed on exit."""
    if scheduler is not None:
        with Client(scheduler) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    local = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR)  # the workers' warnings (a trial cancelled by Ctrl-C) are not the user's
    with local as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


def worker_slots(client: Client) -> int:
    """How many trials the cluster runs at once (its worker threads): the default batch size."""
    threads: dict[str, int] = client.nthreads()  # type: ignore[no-untyped-call]
    return max(1, sum(threads.values()))


def study_folds(plan: StudyPlan) -> tuple[tuple[Fold, ...], tuple[str, ...], datetime | None]:
    """(the folds over the data's span, the symbols traded, the data's end bound).

    The first fold starts at ``backtest.start`` (else the data's start plus the warm-up) and the gap between
    in-sample and out-of-sample is the longest warm-up over the space's strategy params (``folds.max_warmup``
    of ``space.strategy_corners``); boundaries on the signal timeframe. Raises ConfigError (bad data, a span
    too short for the folds)."""
    cfg = plan.cfg
    chosen = select_backtest_data(cfg, plan.data, start=cfg.backtest.start, end=cfg.backtest.end,
                                  allow_missing=plan.allow_missing)
    data = chosen.data
    warmup = max_warmup(plan.space.strategy_corners(cfg))
    begin = chosen.start or data.ts_start + warmup
    finish = data.ts_end + timedelta(minutes=TIMEFRAME_MINUTES[data.base_timeframe])
    try:
        folds = tuple(walk_forward(begin, finish, plan.folds, gap=warmup, mode=plan.fold_mode,
                                   oos_fraction=plan.oos_fraction,
                                   align=timedelta(minutes=TIMEFRAME_MINUTES[cfg.strategy.timeframe])))
    except ValueError as exc:
        raise ConfigError(f"--folds {plan.folds}: {exc} (data {plan.data}: {data.ts_start:%Y-%m-%d %H:%M} .. "
                          f"{finish:%Y-%m-%d %H:%M} UTC)") from exc
    end_bound = None if cfg.backtest.end is None else finish
    return folds, tuple(data.symbols), end_bound


def counted(trial: FrozenTrial) -> bool:
    """A trial that counts toward the study's size: complete, or failed for a reason of its own (not abandoned)."""
    return trial.state == TrialState.COMPLETE or (trial.state == TrialState.FAIL
                                                  and not trial.user_attrs.get("abandoned", False))


def abandon(study: optuna.Study) -> int:
    """Fail the study's RUNNING trials as ``abandoned`` (a driver stopped before telling them); returns how many.

    Nothing is lost: the sampler is re-seeded per batch from the trials finished before it, and failed trials
    are not among them, so the next batch asks the same parameters again."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study._storage.set_trial_user_attr(trial._trial_id, "abandoned", True)
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    if stale:
        log.warning("study %s: %d trial(s) left running by a stopped driver are asked again",
                    study.study_name, len(stale))
    return len(stale)


def load_or_create(storage: optuna.storages.RDBStorage, name: str, seed: int) -> optuna.Study:
    """The study ``name`` (maximised), created if new; RUNNING trials of a stopped driver abandoned (``abandon``)."""
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ConfigError(f"--study {name}: exists in the storage and is not a maximising study; choose another name")
    abandon(study)
    return study


def detail(trial: FrozenTrial) -> dict[str, Any]:
    """A told trial's details (empty when it never ran): ``fold_scores``, ``fold_trades``, ``returns`` (per fold,
    ``objective.period_returns``), ``worker`` (host:pid), ``seconds`` on the worker, ``loaded_data`` (this trial
    read the data from disk)."""
    found: dict[str, Any] = trial.user_attrs.get(DETAIL, {})
    return found


def _record(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome | None, error: str | None) -> None:
    """Tell one trial's outcome, with its details (``detail``) as a user attribute."""
    if outcome is not None:  # one attribute, one write (each is a commit: bench/README.md, driver overhead)
        trial.set_user_attr(DETAIL, {"fold_scores": list(outcome.fold_scores), "fold_trades": list(outcome.fold_trades),
                                     "returns": [list(r) for r in outcome.returns], "worker": outcome.worker,
                                     "seconds": round(outcome.seconds, 4), "loaded_data": outcome.loaded_data})
        error = error or outcome.error
    if error is not None or outcome is None or not math.isfinite(outcome.value):
        trial.set_user_attr("error", error or "the objective is not a finite number")
        study.tell(trial, state=TrialState.FAIL)
        return
    study.tell(trial, outcome.value)


def _run_batch(client: Client, tasks: Mapping[int, TrialTask], retries: int) -> dict[int, tuple[TrialOutcome | None,
                                                                                             str | None]]:
    """Run ``tasks`` (by trial number) to completion: (outcome, None) or (None, last error) for each."""
    attempts = dict.fromkeys(tasks, 0)
    pending: dict[int, Future[TrialOutcome]] = {}
    done: dict[int, tuple[TrialOutcome | None, str | None]] = {}

    def submit(number: int) -> None:
        attempts[number] += 1
        pending[number] = client.submit(run_trial, tasks[number], pure=False,
                                        key=f"krakenbot-trial-{number}-{attempts[number]}-{uuid.uuid4().hex[:8]}")

    for number in tasks:
        submit(number)
    try:
        while pending:
            wait(list(pending.values()), return_when="FIRST_COMPLETED")  # type: ignore[no-untyped-call]
            for number, future in list(pending.items()):
                if not future.done():  # type: ignore[no-untyped-call]
                    continue
                del pending[number]
                try:
                    done[number] = (future.result(), None)
                except Exception as exc:  # a bug in the trial, or workers that kept dying under it
                    message = f"{type(exc).__name__}: {exc}"
                    if attempts[number] <= retries:
                        log.warning("trial %d failed (%s): submitted again", number, message)
                        submit(number)
                    else:
                        done[number] = (None, message)
    finally:
        for future in pending.values():
            future.cancel()  # type: ignore[no-untyped-call]
    return done


def run_study(plan: StudyPlan, client: Client, *, batch: int | None = None,
              on_progress: ProgressCallback | None = None) -> StudyResult:
    """Run the study described by ``plan`` on ``client`` (see the module docstring) and assess its winner.

    ``batch``: trials asked at once (default: ``worker_slots(client)``; the result depends on it).
    Ctrl-C (KeyboardInterrupt; see ``CtrlC``) abandons the batch in flight and re-raises: a rerun resumes and
    asks it again. Raises ConfigError for bad data, a storage that is not a study database, or a study without
    a complete trial."""
    began = time.perf_counter()
    folds, symbols, end = study_folds(plan)
    size = batch or worker_slots(client)
    storage = open_storage(plan.storage)
    data_dir = Path(plan.data).resolve()  # workers (on other machines too) read it at this path
    with CtrlC() as ctrl_c:
        study = load_or_create(storage, plan.study_name, plan.seed)
        ran = 0

        def report() -> None:
            if on_progress is not None:
                finished = [t for t in study.get_trials(deepcopy=False) if counted(t)]
                values = [t.value for t in finished if t.state == TrialState.COMPLETE and t.value is not None]
                on_progress(len(finished), plan.trials, max(values) if values else None)

        report()
        while True:
            ctrl_c.check()
            all_trials = study.get_trials(deepcopy=False)
            missing = plan.trials - sum(counted(t) for t in all_trials)
            if missing <= 0:
                break
            complete = sum(t.state == TrialState.COMPLETE for t in all_trials)
            study.sampler = optuna.samplers.TPESampler(seed=plan.seed + SEED_STRIDE * complete)
            asked: list[optuna.Trial] = []
            try:
                tasks: dict[int, TrialTask] = {}
                refused: dict[int, str] = {}
                for _ in range(min(size, missing)):
                    trial = study.ask()
                    asked.append(trial)
                    try:
                        trial_cfg = plan.space.apply(plan.cfg, plan.space.suggest(trial))
                    except (ConfigError, ValidationError, ValueError) as exc:
                        refused[trial.number] = f"config refused: {exc}"
                        continue
                    tasks[trial.number] = TrialTask(number=trial.number, cfg=trial_cfg, data=data_dir,
                                                    symbols=symbols, end=end, folds=folds, objective=plan.objective,
                                                    min_trades=plan.min_trades)
                with ctrl_c.taken():
                    results = _run_batch(client, tasks, plan.retries)
            except BaseException:
                abandon(study)
                raise
            for trial in asked:
                outcome, error = results.get(trial.number, (None, refused.get(trial.number)))
                _record(study, trial, outcome, error)
            ran += len(asked)
            report()
        return _finish(plan, study, client, folds, symbols, end, ran=ran, began=began, ctrl_c=ctrl_c)


def _finish(plan: StudyPlan, study: optuna.Study, client: Client, folds: tuple[Fold, ...],
            symbols: tuple[str, ...], end: datetime | None, *, ran: int, began: float, ctrl_c: CtrlC) -> StudyResult:
    """Re-run the best trials out-of-sample, assess the winner, and gather the result."""
    trials = tuple(study.get_trials(deepcopy=False))
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE),
                      key=lambda t: (-(t.value if t.value is not None else -math.inf), t.number))
    if not complete:
        raise ConfigError(f"study {plan.study_name}: no trial completed (see the errors in trials.csv): check the "
                          "search space and the data")
    best = complete[0]
    best_cfg = plan.space.apply(plan.cfg, best.params)
    data_dir = Path(plan.data).resolve()
    tasks = {t.number: TrialTask(number=t.number, cfg=plan.space.apply(plan.cfg, t.params), data=data_dir,
                                 symbols=symbols, end=end, folds=folds, window="oos", objective=plan.objective,
                                 min_trades=plan.min_trades, keep_equity=t.number == best.number)
             for t in complete[:plan.top]}
    with ctrl_c.taken():
        ran_oos = _run_batch(client, tasks, plan.retries)
    oos = {n: outcome for n, (outcome, _) in ran_oos.items() if outcome is not None}
    for number, outcome in oos.items():
        study.set_user_attr(f"oos_{number}", {"fold_scores": list(outcome.fold_scores),
                                              "fold_trades": list(outcome.fold_trades)})
    found, note = study_verdict(complete, plan.fold_mode)
    return StudyResult(name=plan.study_name, study=study, folds=folds, trials=trials, best=best, best_cfg=best_cfg,
                       oos=oos, verdict=found, verdict_note=note, ran=ran, seconds=time.perf_counter() - began,
                       objective=plan.objective)


def in_sample_returns(trial: FrozenTrial, fold_mode: str) -> np.ndarray:
    """The trial's in-sample period returns for the verdict: anchored folds' in-sample windows nest, so the
    last (longest) fold's; rolling folds', concatenated in fold order."""
    per_fold = [np.asarray(r, dtype="float64") for r in detail(trial).get("returns", [])]
    if not per_fold:
        return np.empty(0)
    return per_fold[-1] if fold_mode == "anchored" else np.concatenate(per_fold)


def study_verdict(ranked: list[FrozenTrial], fold_mode: str) -> tuple[Verdict | None, str]:
    """The overfitting verdict of the winner (``ranked[0]``) among ``ranked`` (complete trials, best first),
    by ``overfit.assess`` on the trials' in-sample returns (periods x trials, cut to the shortest): the
    winner's deflated Sharpe ratio given the number of trials, and the PBO by CSCV. (None, why) with fewer
    than 2 complete trials; the note says what the verdict was computed on."""
    series = [in_sample_returns(t, fold_mode) for t in ranked]
    length = min((s.size for s in series), default=0)
    if len(ranked) < 2:
        return None, f"no verdict: it needs at least 2 complete trials (got {len(ranked)})"
    matrix = np.column_stack([s[-length:] if length else s[:0] for s in series])
    found = assess(matrix, winner=0, n_trials=len(ranked), n_splits=PBO_SPLITS)
    return found, f"{len(ranked)} trials x {length} in-sample periods"
