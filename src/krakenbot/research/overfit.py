"""Is the winner of a study real or the luckiest of many tries? Deflated Sharpe ratio, PBO, verdict. Pure numpy.

Conventions: returns are simple per-period returns (daily by default, ``objective.period_returns``);
Sharpe ratios here are **per period and not annualised** (mean / sample std with ddof=1, risk-free 0;
0.0 when the std is 0 or there are fewer than two returns); multiply by sqrt(periods per year), sqrt(365)
for daily, to compare with the annualised ``sharpe`` of ``summary.json``. ``sharpe_variance`` is the
variance across trials of those per-period Sharpe ratios (:func:`sharpe_ratios` of the trials' returns).
Skewness and kurtosis are the sample moments (population form), kurtosis not excess (3 for a normal).

- **Deflated Sharpe ratio** (D. H. Bailey and M. Lopez de Prado, "The Deflated Sharpe Ratio: Correcting
  for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5),
  2014, pp. 94-107): the probability that the winner's true Sharpe ratio is above the Sharpe ratio the
  best of ``n_trials`` unskilled trials would be expected to show,
  ``SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))`` (g: Euler-Mascheroni), allowing
  for the returns' length, skewness and kurtosis:
  ``DSR = Z((SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurt - 1) / 4 SR^2))``. The paper's N is the
  number of independent trials; Optuna's trials are correlated, so passing all of them overstates N and
  errs towards "likely overfit". With one trial it is the probabilistic Sharpe ratio against 0.
- **Probability of backtest overfitting** by combinatorially symmetric cross-validation (D. H. Bailey,
  J. Borwein, M. Lopez de Prado and Q. J. Zhu, "The Probability of Backtest Overfitting", Journal of
  Computational Finance 20(4), 2017, pp. 39-69; SSRN 2326253, 2015): the ``T x N`` matrix of the trials'
  returns is cut into S row blocks (the oldest ``T mod S`` rows left out); for each of the C(S, S/2)
  ways to take half the blocks as in-sample (the rest out-of-sample, order kept), the in-sample best
  trial's out-of-sample rank ``w`` in ``(0, 1)`` (average rank / (N + 1), by Sharpe) gives the logit
  ``log(w / (1 - w))``; PBO is the fraction of logits <= 0 (the in-sample best is at or below the
  out-of-sample median; the median itself counts as overfit).
- **Verdict**: "survives" when DSR >= ``DSR_MIN`` (0.95: 95 % confidence that the edge beats selection
  luck) and PBO < ``PBO_MAX`` (0.5: the in-sample choice beats the median out of sample more often than
  not); otherwise, or when either could not be measured, "likely overfit".
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

EULER_GAMMA = 0.5772156649015329
DSR_MIN = 0.95
PBO_MAX = 0.5
MIN_PBO_PERIODS = 4  # two blocks of two returns: the fewest CSCV can rank trials on
_NORMAL = NormalDist()
_COMBO_BATCH = 2048

Label = Literal["likely overfit", "survives"]


def sharpe_ratio(returns: np.ndarray) -> float:
    """Per-period Sharpe ratio of ``returns`` (module doc); 0.0 when undefined."""
    values = np.asarray(returns, dtype="float64")
    if values.size < 2:
        return 0.0
    std = float(np.std(values, ddof=1))
    return float(np.mean(values) / std) if math.isfinite(std) and std > 1e-15 else 0.0


def sharpe_ratios(matrix: np.ndarray) -> np.ndarray:
    """Per-period Sharpe ratio of each column of a ``T x N`` returns matrix."""
    values = _matrix(matrix, "sharpe_ratios")
    if values.shape[0] < 2:
        return np.zeros(values.shape[1])
    std = np.std(values, axis=0, ddof=1)
    mean = np.mean(values, axis=0)
    return np.asarray(np.divide(mean, std, out=np.zeros_like(mean), where=std > 1e-15))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """``SR0``: the per-period Sharpe ratio the best of ``n_trials`` unskilled trials is expected to show
    when the trials' Sharpe ratios have variance ``sharpe_variance`` (Bailey & Lopez de Prado 2014); 0 for
    one trial. Raises ValueError for ``n_trials < 1`` or a negative variance."""
    if n_trials < 1:
        raise ValueError(f"n_trials: must be >= 1, got {n_trials}")
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0):
        raise ValueError(f"sharpe_variance: must be a finite number >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe(returns: np.ndarray, benchmark: float = 0.0) -> float:
    """Probability that the true per-period Sharpe ratio of ``returns`` exceeds ``benchmark``, allowing for
    their length, skewness and kurtosis (Bailey & Lopez de Prado 2014). 0.0 with fewer than two returns or
    zero volatility (nothing shown)."""
    values = np.asarray(returns, dtype="float64")
    if values.size < 2 or not np.all(np.isfinite(values)):
        return 0.0
    centred = values - values.mean()
    m2 = float(np.mean(centred ** 2))
    if m2 <= 1e-30:
        return 0.0
    skew = float(np.mean(centred ** 3)) / m2 ** 1.5
    kurt = float(np.mean(centred ** 4)) / m2 ** 2
    sr = sharpe_ratio(values)
    spread = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr ** 2
    spread = max(spread, 1e-12)  # >= 0 for any sample by the moment inequality; guards rounding
    return float(_NORMAL.cdf((sr - benchmark) * math.sqrt(values.size - 1) / math.sqrt(spread)))


def deflated_sharpe(returns: np.ndarray, n_trials: int, sharpe_variance: float) -> float:
    """Deflated Sharpe ratio (a probability in [0, 1]) of the winner's per-period ``returns`` (over the
    period it was chosen on), chosen among ``n_trials`` trials whose per-period Sharpe ratios have variance
    ``sharpe_variance`` (module doc). Raises ValueError for ``n_trials < 1`` or a negative variance."""
    return probabilistic_sharpe(returns, expected_max_sharpe(n_trials, sharpe_variance))


@dataclass(frozen=True, slots=True, kw_only=True)
class PboResult:
    """CSCV's outcome: ``pbo`` (NaN when too few periods), the logits of every split, the blocks used."""

    pbo: float
    logits: np.ndarray
    n_splits: int
    periods_used: int


def pbo_detail(matrix: np.ndarray, n_splits: int = 16) -> PboResult:
    """CSCV over a ``T periods x N trials`` returns matrix (module doc). ``n_splits`` (even, >= 2) is lowered
    to the largest even number leaving each block two periods when ``T`` is short; with fewer than
    ``MIN_PBO_PERIODS`` periods ``pbo`` is NaN. Raises ValueError for fewer than two trials, non-finite
    returns, or an odd or too small ``n_splits``."""
    values = _matrix(matrix, "pbo")
    periods, trials = values.shape
    if trials < 2:
        raise ValueError(f"pbo: needs at least 2 trials (columns), got {trials}")
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"pbo n_splits: must be an even number >= 2, got {n_splits}")
    splits = min(n_splits, (periods // 2) // 2 * 2)
    if periods < MIN_PBO_PERIODS or splits < 2:
        return PboResult(pbo=math.nan, logits=np.empty(0), n_splits=0, periods_used=0)
    block = periods // splits
    used = values[periods - block * splits:]
    blocks = used.reshape(splits, block, trials)
    sums, squares = blocks.sum(axis=1), (blocks ** 2).sum(axis=1)
    total_sum, total_sq = sums.sum(axis=0), squares.sum(axis=0)
    half = splits // 2
    n_in = half * block
    logits = []
    combos = itertools.combinations(range(splits), half)
    while batch := list(itertools.islice(combos, _COMBO_BATCH)):
        chosen = np.asarray(batch)  # (combinations, half): the in-sample blocks
        in_sum, in_sq = sums[chosen].sum(axis=1), squares[chosen].sum(axis=1)  # no BLAS: no thread contention
        in_sharpe = _sharpe_from_sums(in_sum, in_sq, n_in)
        out_sharpe = _sharpe_from_sums(total_sum - in_sum, total_sq - in_sq, n_in)
        best = np.argmax(in_sharpe, axis=1)
        best_out = out_sharpe[np.arange(len(batch)), best][:, None]
        rank = (out_sharpe < best_out).sum(axis=1) + 0.5 * ((out_sharpe == best_out).sum(axis=1) - 1) + 1.0
        w = rank / (trials + 1.0)
        logits.append(np.log(w / (1.0 - w)))
    all_logits = np.concatenate(logits)
    return PboResult(pbo=float(np.mean(all_logits <= 0.0)), logits=all_logits, n_splits=splits,
                     periods_used=block * splits)


def pbo(matrix: np.ndarray, n_splits: int = 16) -> float:
    """Probability of backtest overfitting (in [0, 1]; NaN when too few periods) of a ``T periods x N
    trials`` returns matrix by CSCV with ``n_splits`` blocks (:func:`pbo_detail`, module doc)."""
    return pbo_detail(matrix, n_splits).pbo


def _sharpe_from_sums(total: np.ndarray, squares: np.ndarray, n: int) -> np.ndarray:
    mean = total / n
    var = np.maximum(squares - n * mean ** 2, 0.0) / (n - 1)
    std = np.sqrt(var)
    return np.asarray(np.divide(mean, std, out=np.zeros_like(mean), where=std > 1e-15))


def _matrix(matrix: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(matrix, dtype="float64")
    if values.ndim != 2:
        raise ValueError(f"{name}: expected a T periods x N trials matrix, got {values.ndim} dimension(s)")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: the returns matrix holds NaN or infinite values")
    return values


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The plain answer: ``label`` 'likely overfit' | 'survives', the figures behind it, ``text`` to print."""

    label: Label
    dsr: float
    pbo: float
    text: str


def verdict(dsr: float, pbo: float, *, n_trials: int | None = None) -> Verdict:
    """'survives' when ``dsr >= DSR_MIN`` and ``pbo < PBO_MAX``, else 'likely overfit' (also when either is
    NaN: not measured is not shown); ``text`` says why in plain words (``n_trials`` named when given)."""
    tried = f"{n_trials} trials" if n_trials is not None else "the trials tried"
    reasons, strengths = [], []
    if math.isnan(dsr):
        reasons.append("the deflated Sharpe ratio could not be measured (too few returns)")
    elif dsr < DSR_MIN:
        reasons.append(f"the winner's deflated Sharpe ratio is {dsr:.2f} (below {DSR_MIN}): the luckiest of "
                       f"{tried} would look about as good with no edge at all")
    else:
        strengths.append(f"the winner's deflated Sharpe ratio is {dsr:.2f} (at least {DSR_MIN}): its Sharpe ratio "
                         f"beats what the luckiest of {tried} would show by chance")
    if math.isnan(pbo):
        reasons.append("the probability of backtest overfitting could not be measured (too few periods)")
    elif pbo >= PBO_MAX:
        reasons.append(f"the probability of backtest overfitting is {pbo:.2f} (at least {PBO_MAX}): the "
                       "in-sample best lands in the bottom half out of sample as often as not")
    else:
        strengths.append(f"the probability of backtest overfitting is {pbo:.2f} (below {PBO_MAX}): the "
                         "in-sample best mostly stays in the top half out of sample")
    if reasons:
        text = "Likely overfit: " + "; ".join(reasons) + "."
        if strengths:
            text += " (" + "; ".join(strengths) + ".)"
        return Verdict(label="likely overfit", dsr=dsr, pbo=pbo, text=text)
    return Verdict(label="survives", dsr=dsr, pbo=pbo, text="Survives: " + "; ".join(strengths) + ".")


def assess(matrix: np.ndarray, *, winner: int | None = None, n_trials: int | None = None,
           n_splits: int = 16) -> Verdict:
    """The verdict of a study from its ``T periods x N trials`` returns matrix: the winner (column
    ``winner``, default the highest Sharpe ratio) deflated for ``n_trials`` (default N) with the variance of
    the columns' Sharpe ratios, and the PBO of the matrix."""
    values = _matrix(matrix, "assess")
    ratios = sharpe_ratios(values)
    best = int(np.argmax(ratios)) if winner is None else winner
    count = values.shape[1] if n_trials is None else n_trials
    variance = float(np.var(ratios, ddof=1)) if ratios.size > 1 else 0.0
    dsr = deflated_sharpe(values[:, best], count, variance) if values.shape[0] >= 2 else math.nan
    return verdict(dsr, pbo(values, n_splits), n_trials=count)
