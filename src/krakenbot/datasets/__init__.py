"""Getting Kraken's history into a data folder (``python run.py data ...``): importing Kraken's downloadable
OHLCVT archive (``kraken_archive``); the downloads from Kraken's APIs join here. Writes through
``krakenbot.data.dataset`` (the backtest's layout, a sidecar per file); may import exchange, data, config
and domain (see the import contracts in pyproject.toml)."""
