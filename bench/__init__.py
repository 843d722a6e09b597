"""Benchmarks of Krakenbot's backtest, alone and against backtesting.py and vectorbt (SYNTHETIC data)."""
