"""Typed configuration. Every field has a description and bounds; unknown keys are errors.

The README's configuration reference is generated from these models
(``python run.py config reference``), so the docs cannot drift from the code.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"]
TIMEFRAME_MINUTES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440}
YEAR_MINUTES = 525_600  # upper bound of durations in minutes: larger ones overflow datetime arithmetic


class StrictModel(BaseModel):
    """Base of every config model: frozen, unknown keys forbidden, defaults validated, floats finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


class ExchangeConfig(StrictModel):
    """How Krakenbot reaches Kraken. Keys never live here: they come from the environment."""

    sandbox: bool = Field(False, description="Use Kraken's demo futures environment (demo-futures.kraken.com).")
    spot_base_url: HttpUrl | None = Field(
        None, description="Override of Kraken's spot REST base URL (tests point it at the loopback server).")
    futures_base_url: HttpUrl | None = Field(
        None, description="Override of Kraken Futures' REST base URL (tests point it at the loopback server).")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="HTTP timeout per request, seconds.")
    max_retries: int = Field(4, ge=0, le=10, description="Retries of a failed read (never of an order) before giving up.")
    client_rate_limit: bool = Field(
        True, description="Throttle requests client-side (ccxt's limiter) to stay inside Kraken's limits; only the loopback Kraken in tests turns it off.")
    retry_base_delay_seconds: float = Field(
        0.5, gt=0, le=30, description="First back-off delay of a retried read, seconds; doubles each try, with jitter.")


class UniverseConfig(StrictModel):
    """Which markets Krakenbot trades: spot pairs for signals, mapped to PF_ perpetuals."""

    symbols: list[str] = Field(
        default_factory=lambda: ["BTC/USD", "ETH/USD"],
        description="Spot pairs (CCXT form, e.g. BTC/USD) whose signals are traded; empty means discover.")
    allow: list[str] = Field(default_factory=list, description="When discovering, only these bases (e.g. BTC, ETH).")
    deny: list[str] = Field(default_factory=list, description="Bases never traded, whatever else says.")
    min_volume_24h_usd: float = Field(
        1_000_000.0, ge=0, description="When discovering, skip perpetuals with less 24 h volume, USD.")
    futures_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="Explicit spot pair -> futures contract map (e.g. 'LUNA2/USD': PF_LUNA2USD); wins over discovery.")

    @model_validator(mode="after")
    def _no_overlap(self) -> UniverseConfig:
        both = sorted(set(self.allow) & set(self.deny))
        if both:
            raise ValueError(f"bases {both} are in both allow and deny; remove them from one list")
        return self


class StrategyConfig(StrictModel):
    """The signal model. A custom class is named by dotted path; its params are checked by it."""

    class_path: str = Field(
        "krakenbot.strategy.trend:TrendStrategy",
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="Strategy class as 'package.module:ClassName'.")
    timeframe: Timeframe = Field("1h", description="Signal candle timeframe (spot candles).")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters passed to the strategy, checked by it.")


class RiskConfig(StrictModel):
    """Sizing, limits and the ShockGuard. Fractions are fractions: 0.025 means 2.5 %."""

    risk_per_trade_pct: float = Field(
        0.01, gt=0, le=0.1, description="Equity lost if a position's stop is hit, as a fraction of equity.")
    max_leverage: float = Field(3.0, ge=1, le=50, description="Leverage cap per position (the contract's own cap also applies).")
    max_positions: int = Field(5, ge=1, le=100, description="Most positions open at once.")
    max_position_notional_usd: float = Field(
        50_000.0, gt=0, description="Largest notional of one position, USD.")
    max_total_exposure: float = Field(
        3.0, gt=0, le=50, description="Sum of position notionals over equity (3.0 means 3x equity).")
    max_margin_utilization_pct: float = Field(
        0.6, gt=0, le=1, description="Share of equity that initial margin of all positions may use.")
    min_notional_usd: float = Field(10.0, gt=0, description="Smallest position worth opening, USD.")
    daily_loss_limit_pct: float = Field(
        0.05, gt=0, lt=1, description="Loss since the UTC day's start, as a fraction of that day's starting equity, that switches to reduce-only.")
    max_drawdown_pct: float = Field(
        0.2, gt=0, lt=1, description="Drop from peak equity, as a fraction, that switches to reduce-only.")
    shock_guard_enabled: bool = Field(True, description="Run the ShockGuard (flash-move detection and exposure reduction).")
    shock_move_pct: float = Field(
        0.025, gt=0, lt=1, description="ShockGuard: |mark move| over 1 minute (over one base candle when candles are coarser) that counts as a shock, fraction.")
    shock_range_pct: float = Field(
        0.04, gt=0, lt=1, description="ShockGuard: (high - low) / low of the mark over 1 minute (a base candle's own when coarser) that counts as a shock, fraction.")
    basis_shock_pct: float = Field(
        0.015, gt=0, lt=1, description="ShockGuard: |futures mark / spot (or index) - 1| that counts as a shock, fraction.")
    shock_cooldown_minutes: float = Field(
        30, ge=0, le=1440, description="ShockGuard: entries stay paused this long after the last shock, minutes.")
    emergency_buffer_pct: float = Field(
        0.10, gt=0, lt=1, description="ShockGuard: while shocked, close a position whose liquidation buffer (distance to liquidation / mark) is below this.")
    trim_buffer_pct: float = Field(
        0.18, gt=0, lt=1, description="ShockGuard: while shocked, trim a position whose liquidation buffer is below this, back up to it.")
    shock_marketwide_count: int = Field(
        3, ge=1, le=1000, description="ShockGuard: this many symbols shocking within the window is a market-wide shock.")
    shock_marketwide_window_sec: float = Field(
        60, gt=0, le=3600, description="ShockGuard: window of the market-wide count, seconds.")
    spot_mark_max_deviation_pct: float = Field(
        0.2, ge=0.01, le=1, description="A signal candle whose close is further than this from its futures contract's current mark, fraction (0.2 = 20 %), is a bad print: quarantined (the strategy never sees it; no entry or reversal on that symbol until a candle within it arrives). Far beyond the normal spot/futures basis (well under 1 %; 1.5 % is already a ShockGuard basis shock) plus the move since the candle closed (up to stale_candle_factor timeframes ago), so a real move pauses entries at worst; it catches 0.1x or 10x closes.")

    @model_validator(mode="after")
    def _buffers_ordered(self) -> RiskConfig:
        if self.trim_buffer_pct <= self.emergency_buffer_pct:
            raise ValueError(
                f"trim_buffer_pct ({self.trim_buffer_pct}) must be greater than emergency_buffer_pct "
                f"({self.emergency_buffer_pct}): trimming starts before the emergency close")
        return self


class AuctionConfig(StrictModel):
    """How candidates compete with held positions."""

    replace_score_margin: float = Field(
        0.25, ge=0, description="A candidate replaces a held position only if its score beats the held one's by this much.")
    min_hold_minutes: float = Field(
        60, ge=0, le=YEAR_MINUTES, description="A position is not closed for a better candidate before it has been held this long, minutes.")
    stale_signal_minutes: float = Field(
        240, gt=0, le=YEAR_MINUTES, description="A held position whose latest signal is older than this is closed as stale, minutes.")


class LoopConfig(StrictModel):
    """The two cadences of the trading loop and when data counts as stale."""

    fast_tick_seconds: float = Field(5.0, gt=0, le=300, description="Fast cadence: tickers, ShockGuard, stops, seconds.")
    stale_ticker_seconds: float = Field(
        30.0, gt=0, le=3600, description="Tickers older than this pause entries, seconds.")
    stale_candle_factor: float = Field(
        2.0, ge=1, le=10, description="A candle series whose newest closed candle is older than this many timeframes is stale.")
    instrument_status_minutes: float = Field(
        5.0, ge=0, le=1440, description="Live: how often Kraken's instruments/status is read (one public request), minutes; a contract in extreme volatility or price dislocation pauses entries; 0 disables.")
    dead_man_switch_seconds: float = Field(
        120, ge=0, le=3600, description="Live: Kraken cancels ALL our orders (stops too) if the bot is silent this long; refreshed every quarter of it; 0 disables. See the README's safety notes.")
    order_lookup_give_up_seconds: float = Field(
        60, gt=0, le=3600, description="An order whose answer was lost and that cannot be found this long after sending is looked up in its fills and Kraken's order history, then recorded as never placed (no trace) or cancelled (placed, cancelled unfilled), seconds.")
    entry_slippage_cap_pct: float = Field(
        0.003, gt=0, lt=0.1, description="IOC entry limit price distance from the reference price, fraction.")
    max_clock_skew_seconds: float = Field(
        5.0, ge=1, le=600, description="Largest tolerated difference between the local clock and Kraken's server time (measured on each tickers answer), seconds: beyond it `live` and `paper` refuse to start, and a running bot pauses entries and stale-signal closes until it is back (stops, ShockGuard and fill polling go on). Ticker and signal ages are measured in Kraken's time either way.")
    gap_repair_max_pages: int = Field(
        10, ge=0, le=1000, description="Live/paper: Kraken's spot OHLC endpoint serves only the newest 720 candles, so a restart after a longer downtime leaves a hole in the candle cache; it is rebuilt from Kraken's public trades, at most this many pages (1,000 trades each, about one second each at Kraken's public rate limit) per series on each slow tick, resuming where the last tick stopped. Meanwhile signals use only the candles after the hole (a symbol with fewer than the strategy's warm-up pauses entries, logged). 0: never ask for trades; the candles before the hole are dropped and the series re-warms from the 720 Kraken serves.")


class FeesConfig(StrictModel):
    """Kraken Futures fees used by the paper exchange and the backtest (fractions of notional)."""

    taker_fee_pct: float = Field(0.0005, ge=0, lt=0.01, description="Taker fee, fraction of notional (0.0005 = 5 bp).")
    maker_fee_pct: float = Field(0.0002, ge=0, lt=0.01, description="Maker fee, fraction of notional.")
    slippage_pct: float = Field(0.0002, ge=0, lt=0.05, description="Assumed slippage of market fills, fraction of price.")


class BacktestConfig(StrictModel):
    """Defaults of ``python run.py backtest``; each may be overridden on the command line."""

    data: Path | None = Field(None, description="Folder of recorded candles (Parquet or CSV), relative to the config file; default: the demo candles shipped with Krakenbot.")
    start: date | None = Field(None, description="First day replayed (UTC); default: start of the data.")
    end: date | None = Field(None, description="Last day replayed (UTC, inclusive); default: end of the data.")
    initial_equity_usd: float = Field(10_000.0, gt=0, description="Starting account equity, USD.")
    out: Path = Field(Path("reports/latest"), description="Folder the report is written to, relative to the config file (default: to the working directory).")
    funding_rate_hourly_pct: float = Field(
        0.0000125, ge=-0.01, le=0.01, description="Funding rate per hour assumed in backtests, fraction of notional; longs pay when > 0 (0.0000125 = 0.01 % per 8 h).")

    @model_validator(mode="after")
    def _ordered(self) -> BacktestConfig:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class StoreConfig(StrictModel):
    """Where decisions, orders and fills are kept."""

    url: str = Field(
        "sqlite:///krakenbot.db", min_length=1,
        description="SQLAlchemy URL: sqlite:///FILE (a relative FILE is relative to the config file) or postgresql+psycopg://user@host/db. Left out: krakenbot.db in the per-user data directory ($KRAKENBOT_DATA_DIR, else $XDG_DATA_HOME/krakenbot, else ~/.local/share/krakenbot); the store used is printed at start.")
    instance_id: str = Field(
        "kb", pattern=r"^[a-z0-9]{1,12}$",
        description="Prefix of this bot's client order ids; orders without it are someone else's and left alone. One per bot on an account: live refuses a second bot with the same API key and instance id, and pauses entries when it sees orders of another process with it.")
    paper_url: str | None = Field(
        None, min_length=1,
        description="Store of `paper` runs (SQLAlchemy URL, relative like url); default: url's SQLite file with a -paper suffix (krakenbot.db -> krakenbot-paper.db). Required when url is PostgreSQL. Paper never writes into the live store.")


class LoggingConfig(StrictModel):
    """Operator log output."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest level logged.")
    file: Path | None = Field(None, description="Also write the log to this file, relative to the config file.")
    candle_source_log_minutes: float = Field(
        60, gt=0, le=YEAR_MINUTES, description="Log a symbol's candle source (spot / futures_fallback) at most once per this many minutes.")
    max_bytes: int = Field(
        10_000_000, ge=10_000, le=10**11, description="The log file rotates when it reaches this size, bytes (at most (1 + backup_count) x this on disk).")
    backup_count: int = Field(
        5, ge=1, le=1000, description="Rotated log files kept (file.1 newest); older ones are deleted.")


class AlertsConfig(StrictModel):
    """Where alerts go (apprise URLs) and how often the same kind may be repeated."""

    urls: list[str] = Field(
        default_factory=list, max_length=50,
        description="apprise URLs the alerts are sent to (tgram://, discord://, mailto://, ntfy://, json://host/path, ...); write secrets as ${ENV_VAR}, resolved from the environment at start (a missing variable refuses to start). Empty: no alerts.")
    daily_summary_utc: str | None = Field(
        None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Send a daily summary (equity, PnL, positions, fees, funding) at this UTC time, HH:MM; null: none.")
    queue_size: int = Field(
        200, ge=1, le=100_000, description="Alerts waiting to be sent at most; beyond it new ones are dropped (counted, logged), never blocking a tick.")
    repeat_after_seconds: float = Field(
        300, ge=0, le=86_400, description="The same alert (kind and symbol) is sent at most once per this many seconds; repeats in between are counted and said in the next one.")
    stale_data_seconds: float = Field(
        300, gt=0, le=86_400, description="Alert when market data of a traded contract has been stale or refused this long, seconds.")
    tick_failures: int = Field(
        3, ge=1, le=1000, description="Alert after this many consecutive failed ticks.")


class MetricsConfig(StrictModel):
    """Prometheus metrics (``/metrics``)."""

    enabled: bool = Field(False, description="Serve Prometheus metrics at http://HOST:PORT/metrics while `paper` or `live` runs.")
    host: str = Field("127.0.0.1", min_length=1, description="Address the metrics server binds to (loopback by default).")
    port: int = Field(9464, ge=1, le=65535, description="Port of the metrics server.")


class ApiConfig(StrictModel):
    """The status API and page, in the same process as `paper` or `live`."""

    enabled: bool = Field(False, description="Serve the status API and page at http://HOST:PORT/ while `paper` or `live` runs; needs KRAKENBOT_API_TOKEN in the environment.")
    host: str = Field("127.0.0.1", min_length=1, description="Address the API binds to. Anything but a loopback address needs tls_certfile/tls_keyfile or allow_insecure_public.")
    port: int = Field(8787, ge=0, le=65535, description="Port of the API and page (0: any free port, logged at start).")
    tls_certfile: Path | None = Field(None, description="TLS certificate (PEM) for the API, relative to the config file.")
    tls_keyfile: Path | None = Field(None, description="TLS private key (PEM) for the API, relative to the config file.")
    allow_insecure_public: bool = Field(
        False, description="Allow a non-loopback host without TLS (only behind a TLS-terminating proxy you trust).")
    ready_after_seconds: float = Field(
        60, gt=0, le=86_400, description="Readiness (`/api/ready`, `status`) fails when the last good tick is older than this, seconds.")
    control_timeout_seconds: float = Field(
        30, gt=0, le=600, description="A control request (pause, resume, reduce-only, flatten) waits this long for the loop's next tick to apply it, seconds.")

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiConfig:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together: set both or neither")
        return self


class OpsConfig(StrictModel):
    """Operating a running bot: alerts, metrics, the status API. All off by default."""

    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alerts through apprise.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Prometheus metrics.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="Status API and page.")


class AppConfig(StrictModel):
    """A whole Krakenbot configuration file."""

    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig, description="Exchange access.")
    universe: UniverseConfig = Field(default_factory=UniverseConfig, description="Markets traded.")
    strategy: StrategyConfig = Field(default_factory=StrategyConfig, description="Signal model.")
    risk: RiskConfig = Field(default_factory=RiskConfig, description="Sizing, limits and ShockGuard.")
    auction: AuctionConfig = Field(default_factory=AuctionConfig, description="Auction between candidates and positions.")
    loop: LoopConfig = Field(default_factory=LoopConfig, description="Loop cadences and staleness.")
    fees: FeesConfig = Field(default_factory=FeesConfig, description="Fees and slippage for simulation.")
    backtest: BacktestConfig = Field(default_factory=BacktestConfig, description="Backtest defaults.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Persistence.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
    ops: OpsConfig = Field(default_factory=OpsConfig, description="Alerts, metrics and the status API (live and paper).")
