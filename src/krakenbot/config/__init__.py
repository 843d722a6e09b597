"""Typed configuration: YAML files checked by pydantic models; secrets from the environment."""

from krakenbot.config.loader import load_config, parse_config
from krakenbot.config.models import (
    AppConfig,
    AuctionConfig,
    BacktestConfig,
    ExchangeConfig,
    FeesConfig,
    LoggingConfig,
    LoopConfig,
    RiskConfig,
    StoreConfig,
    StrategyConfig,
    UniverseConfig,
)
from krakenbot.config.secrets import Secrets

__all__ = [
    "AppConfig", "AuctionConfig", "BacktestConfig", "ExchangeConfig", "FeesConfig", "LoggingConfig",
    "LoopConfig", "RiskConfig", "Secrets", "StoreConfig", "StrategyConfig", "UniverseConfig", "load_config",
    "parse_config",
]
