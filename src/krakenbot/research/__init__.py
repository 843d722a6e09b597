"""Research: walk-forward optimisation of a config on Optuna, trials fanned out on Dask, overfitting verdict."""
