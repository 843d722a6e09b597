"""Secrets come from the environment only, never from YAML, and never reach a log line."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Secrets(BaseSettings):
    """Kraken API credentials, read from environment variables of the same (upper-case) names.

    Spot keys read market data and balances; futures keys trade. Live trading needs the
    futures pair; backtest and paper need none.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)

    kraken_api_key: SecretStr | None = Field(None, description="Kraken spot API key (KRAKEN_API_KEY).")
    kraken_api_secret: SecretStr | None = Field(None, description="Kraken spot API secret (KRAKEN_API_SECRET).")
    kraken_futures_api_key: SecretStr | None = Field(
        None, description="Kraken Futures API key (KRAKEN_FUTURES_API_KEY).")
    kraken_futures_api_secret: SecretStr | None = Field(
        None, description="Kraken Futures API secret (KRAKEN_FUTURES_API_SECRET).")
    krakenbot_api_token: SecretStr | None = Field(
        None, description="Token of the status API (KRAKENBOT_API_TOKEN), sent as `Authorization: Bearer ...`.")

    def values(self) -> list[str]:
        """Every secret that is set, in clear text: for the log redactor only."""
        found = (self.kraken_api_key, self.kraken_api_secret, self.kraken_futures_api_key,
                 self.kraken_futures_api_secret, self.krakenbot_api_token)
        return [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]

    def missing_for_live(self) -> list[str]:
        """Names of the environment variables live trading needs but that are not set."""
        need = {"KRAKEN_FUTURES_API_KEY": self.kraken_futures_api_key,
                "KRAKEN_FUTURES_API_SECRET": self.kraken_futures_api_secret}
        return [name for name, value in need.items() if value is None or not value.get_secret_value()]
