"""Research: walk-forward optimisation of a config on Optuna, trials fanned out on Dask, overfitting verdict.

Pure parts: the search space (``space``), walk-forward folds (``folds``), trial objectives (``objective``)
and the overfitting verdict (``overfit``)."""
