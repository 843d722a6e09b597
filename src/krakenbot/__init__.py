"""Krakenbot: Kraken spot signals, held on Kraken Futures perpetuals."""

__version__ = "0.1.0"
