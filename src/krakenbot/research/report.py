"""A study's outputs: ``report.html`` (plotly, opens offline), ``best.yaml`` and ``trials.csv``.

- ``report.html``: the verdict in words, the winner, the optimisation history, the parameters' importance,
  parallel coordinates, in-sample vs out-of-sample score per fold of the best trials, the winner's
  out-of-sample equity; plotly.js is inline (no CDN).
- ``best.yaml``: the winner's whole config as it differs from the defaults (paths absolute), ready for
  ``backtest --config best.yaml`` or ``paper``.
- ``trials.csv``: one row per trial: number, state, value, each parameter (``p:<path>``), the in-sample
  score and trades per fold, the worker, its seconds, and the error of a failed one.

The folder is written whole or not at all (``backtest.report.write_dir_atomically``); a rerun replaces it.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import yaml
from optuna.trial import FrozenTrial, TrialState
from plotly.offline import get_plotlyjs

from krakenbot.backtest.report import write_dir_atomically
from krakenbot.research.objective import is_penalised
from krakenbot.research.study import StudyResult, detail

REPORT_FILE = "report.html"
BEST_FILE = "best.yaml"
TRIALS_FILE = "trials.csv"


def best_yaml(result: StudyResult) -> str:
    """The winner's config as YAML (only what differs from the defaults), headed by where it came from."""
    body = yaml.safe_dump(result.best_cfg.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
    params = ", ".join(f"{k}={v}" for k, v in result.best.params.items())
    return (f"# Winner of study {result.name}: trial {result.best.number}, in-sample {result.objective} "
            f"{result.best.value:.6g}\n# {params}\n# Verdict: {verdict_line(result)}\n{body}")


def trials_frame(result: StudyResult) -> pd.DataFrame:
    """One row per trial (see the module docstring), in trial-number order."""
    names = sorted({name for t in result.trials for name in t.params})
    rows: list[dict[str, Any]] = []
    for t in result.trials:
        attrs = {**t.user_attrs, **detail(t)}
        row: dict[str, Any] = {"number": t.number, "state": t.state.name, "value": t.value}
        row.update({f"p:{name}": t.params.get(name) for name in names})
        for i, fold_score in enumerate(attrs.get("fold_scores", [])):
            row[f"is_score_fold{i}"] = fold_score
        for i, trades in enumerate(attrs.get("fold_trades", [])):
            row[f"is_trades_fold{i}"] = trades
        row.update(worker=attrs.get("worker", ""), seconds=attrs.get("seconds"),
                   abandoned=bool(attrs.get("abandoned", False)), error=attrs.get("error", ""))
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_line(result: StudyResult) -> str:
    """The verdict in one line."""
    if result.verdict is None:
        return result.verdict_note
    return f"{result.verdict.text} ({result.verdict_note})"


def _fold_figure(result: StudyResult) -> go.Figure:
    fig = go.Figure()
    for number, outcome in sorted(result.oos.items(), key=lambda item: item[0] != result.best.number):
        trial = next(t for t in result.trials if t.number == number)
        folds = [f"fold {f.index}" for f in result.folds]
        fig.add_bar(name=f"#{number} in-sample", x=folds, y=detail(trial).get("fold_scores", []))
        fig.add_bar(name=f"#{number} out-of-sample", x=folds, y=list(outcome.fold_scores))
    fig.update_layout(title=f"In-sample vs out-of-sample {result.objective} per fold (best trials)",
                      barmode="group", height=420)
    return fig


def _equity_figure(result: StudyResult) -> go.Figure:
    fig = go.Figure()
    outcome = result.oos.get(result.best.number)
    for fold, (times, values) in zip(result.folds, outcome.equity if outcome else (), strict=False):
        fig.add_scatter(x=list(times), y=list(values), mode="lines", name=f"fold {fold.index} out-of-sample")
    fig.update_layout(title=f"Winner (trial {result.best.number}): equity out-of-sample, USD", height=420)
    return fig


def _optuna_figures(result: StudyResult) -> list[tuple[str, go.Figure | None, str]]:
    """(id, figure or None, why not) for the history, the importance and the parallel coordinates. Penalised
    trials (too few trades: ``objective.PENALTY``) are drawn at the lowest real score, so that they do not
    squash the scale."""
    from optuna import visualization as vis

    real = [t.value for t in result.trials
            if t.state == TrialState.COMPLETE and t.value is not None and not is_penalised(t.value)]
    floor = min(real) if real else 0.0

    def shown(trial: FrozenTrial) -> float:
        value = trial.value if trial.value is not None else floor
        return floor if is_penalised(value) else value

    name = f"{result.objective} (penalised trials at the lowest real score)"
    out: list[tuple[str, go.Figure | None, str]] = []
    for div_id, make in (("history", vis.plot_optimization_history), ("parallel", vis.plot_parallel_coordinate)):
        try:
            out.append((div_id, make(result.study, target=shown, target_name=name), ""))
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            out.append((div_id, None, f"{div_id}: not available ({exc})"))
    try:  # importance of the raw values: a parameter that causes penalties matters
        out.insert(1, ("importance", vis.plot_param_importances(result.study), ""))
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # e.g. a single complete trial
        out.insert(1, ("importance", None, f"importance: not available ({exc})"))
    return out


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def render_html(result: StudyResult) -> str:
    """The whole report page (self-contained: plotly.js inline)."""
    complete = [t for t in result.trials if t.state == TrialState.COMPLETE]
    failed = sum(t.state == TrialState.FAIL and not t.user_attrs.get("abandoned") for t in result.trials)
    summary = [("study", result.name), ("trials complete", str(len(complete))), ("trials failed", str(failed)),
               ("objective (in-sample mean over folds)", result.objective),
               ("best trial", f"#{result.best.number}: {result.best.value:.6g}"),
               *((f"best {k}", str(v)) for k, v in result.best.params.items()),
               *((f"fold {f.index}", f"in-sample {f.is_start:%Y-%m-%d %H:%M} .. {f.is_end:%Y-%m-%d %H:%M}, "
                                     f"out-of-sample {f.oos_start:%Y-%m-%d %H:%M} .. {f.oos_end:%Y-%m-%d %H:%M} UTC")
                 for f in result.folds)]
    verdict_html = f"<p class='verdict'><b>Verdict:</b> {html.escape(verdict_line(result))}</p>"
    if result.verdict is not None:
        verdict_html += (f"<p>Deflated Sharpe ratio {result.verdict.dsr:.3f} (the probability that the winner's "
                         f"Sharpe ratio beats what the luckiest of {len(complete)} no-edge trials would show); "
                         f"probability of backtest overfitting {result.verdict.pbo:.3f}; on "
                         f"{html.escape(result.verdict_note)}.</p>")
    figures: list[tuple[str, go.Figure | None, str]] = [
        *_optuna_figures(result), ("folds", _fold_figure(result), ""), ("equity", _equity_figure(result), "")]
    parts = [fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id) if fig is not None
             else f"<p>{html.escape(why)}</p>" for div_id, fig, why in figures]
    return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset='utf-8'>\n"
            f"<title>Krakenbot study {html.escape(result.name)}</title>\n"
            "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} "
            "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left} .verdict{font-size:1.3em}</style>\n"
            f"<script type='text/javascript'>{get_plotlyjs()}</script>\n</head>\n<body>\n"
            f"<h1>Study {html.escape(result.name)}</h1>\n{verdict_html}\n{_table(summary)}\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


def _csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.10g")
    return buffer.getvalue()


def write_study_report(result: StudyResult, out_dir: Path) -> dict[str, Path]:
    """Write report.html, best.yaml and trials.csv into ``out_dir`` (atomically; a rerun replaces a previous
    study report, any other non-empty folder is refused with ConfigError). Returns the files' paths."""
    writers = {TRIALS_FILE: lambda _tmp: _csv(trials_frame(result)), BEST_FILE: lambda _tmp: best_yaml(result),
               REPORT_FILE: lambda _tmp: render_html(result)}
    return write_dir_atomically(Path(out_dir), writers, marker=TRIALS_FILE)

