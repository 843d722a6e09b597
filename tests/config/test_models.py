"""Config models: defaults, bounds and cross-field checks."""

import pytest
from pydantic import ValidationError

from krakenbot.config import AppConfig, RiskConfig, Secrets, parse_config
from krakenbot.domain.errors import ConfigError

SHOCK_GUARD_DEFAULTS = {
    "shock_guard_enabled": True,
    "shock_move_pct": 0.025,
    "shock_range_pct": 0.04,
    "basis_shock_pct": 0.015,
    "shock_cooldown_minutes": 30,
    "emergency_buffer_pct": 0.10,
    "trim_buffer_pct": 0.18,
    "shock_marketwide_count": 3,
    "shock_marketwide_window_sec": 60,
}


@pytest.mark.parametrize(("key", "default"), SHOCK_GUARD_DEFAULTS.items())
def test_risk_config_shock_guard_key_has_documented_default(key, default):
    assert getattr(RiskConfig(), key) == default


@pytest.mark.parametrize(("key", "value"), [
    ("shock_guard_enabled", False), ("shock_move_pct", 0.03), ("shock_range_pct", 0.05),
    ("basis_shock_pct", 0.02), ("shock_cooldown_minutes", 45), ("emergency_buffer_pct", 0.08),
    ("trim_buffer_pct", 0.25), ("shock_marketwide_count", 5), ("shock_marketwide_window_sec", 120),
])
def test_shock_guard_key_is_read_from_yaml(key, value):
    cfg = parse_config(f"risk:\n  {key}: {str(value).lower()}\n")
    assert getattr(cfg.risk, key) == value


def test_every_field_has_a_description():
    def walk(model):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            sub = info.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                walk(sub)
    walk(AppConfig)


def test_trim_buffer_must_exceed_emergency_buffer():
    with pytest.raises(ValidationError, match="trim_buffer_pct"):
        RiskConfig(emergency_buffer_pct=0.2, trim_buffer_pct=0.1)


def test_config_models_are_frozen():
    cfg = AppConfig()
    with pytest.raises(ValidationError):
        cfg.risk.max_positions = 10  # type: ignore[misc]


def test_allow_and_deny_overlap_is_an_error():
    with pytest.raises(ConfigError, match=r"universe: bases \['BTC'\] are in both allow and deny"):
        parse_config("universe:\n  allow: [BTC]\n  deny: [BTC]\n")


def test_secrets_come_from_environment(monkeypatch):
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", "fk-123456")
    monkeypatch.delenv("KRAKEN_FUTURES_API_SECRET", raising=False)
    secrets = Secrets()
    assert secrets.kraken_futures_api_key is not None
    assert "fk-123456" not in repr(secrets)
    assert secrets.missing_for_live() == ["KRAKEN_FUTURES_API_SECRET"]
    assert secrets.values() == ["fk-123456"]
