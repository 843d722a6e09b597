"""Strategies: candles in, scored signals out (pure; see ``base.Strategy``)."""

from krakenbot.strategy.base import CandleArrays, SignalArrays, Strategy
from krakenbot.strategy.loader import load_strategy

__all__ = ["CandleArrays", "SignalArrays", "Strategy", "load_strategy"]
