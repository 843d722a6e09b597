"""STUB (OPT-B, to be replaced by OPT-A's research/overfit.py): overfitting verdict, minimal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    label: str
    dsr: float
    pbo: float
    text: str


def deflated_sharpe(returns: np.ndarray, n_trials: int, sharpe_variance: float) -> float:
    return 0.5


def pbo(matrix: np.ndarray, n_splits: int = 16) -> float:
    return 0.5


def verdict(dsr: float, pbo: float) -> Verdict:
    label = "survives" if dsr > 0.95 and pbo < 0.5 else "likely overfit"
    return Verdict(label=label, dsr=dsr, pbo=pbo, text=f"STUB verdict: DSR {dsr:.2f}, PBO {pbo:.2f}")
