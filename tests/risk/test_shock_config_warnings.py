"""``config_warnings``: ShockGuard settings that cannot mean what they say, each named by its YAML key."""

from __future__ import annotations

from krakenbot.config.models import RiskConfig
from krakenbot.risk.shock_guard import config_warnings

SYMBOLS = ["PF_XBTUSD", "PF_ETHUSD", "PF_SOLUSD"]


def test_a_good_config_gives_no_warning():
    assert config_warnings(RiskConfig(), SYMBOLS, 60.0) == []
    assert config_warnings(RiskConfig(), SYMBOLS, 5.0) == []


def test_marketwide_count_above_the_symbols_never_fires():
    (warning,) = config_warnings(RiskConfig(shock_marketwide_count=3), ["PF_XBTUSD", "PF_ETHUSD"], 60.0)
    assert warning.startswith("risk.shock_marketwide_count:")
    assert "never fire" in warning


def test_marketwide_window_shorter_than_a_candle():
    (warning,) = config_warnings(RiskConfig(shock_marketwide_window_sec=60), SYMBOLS, 300.0)
    assert warning.startswith("risk.shock_marketwide_window_sec:")
    assert "300 s" in warning


def test_cooldown_shorter_than_a_candle():
    (warning,) = config_warnings(RiskConfig(shock_cooldown_minutes=1, shock_marketwide_window_sec=3600),
                                 SYMBOLS, 300.0)
    assert warning.startswith("risk.shock_cooldown_minutes:")


def test_every_warning_at_once_each_naming_its_key():
    warnings = config_warnings(RiskConfig(shock_marketwide_count=5, shock_cooldown_minutes=1), SYMBOLS, 3600.0)
    assert [w.split(":")[0] for w in warnings] == ["risk.shock_marketwide_count", "risk.shock_marketwide_window_sec",
                                                   "risk.shock_cooldown_minutes"]


def test_guard_off_gives_no_warning():
    assert config_warnings(RiskConfig(shock_guard_enabled=False, shock_marketwide_count=9), SYMBOLS, 300.0) == []
