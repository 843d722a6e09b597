"""Market catalogue and candle series of the loopback Kraken server.

Shapes follow Kraken's REST documentation (spot ``/0/public/AssetPairs``, ``Assets``, ``OHLC``;
futures ``/derivatives/api/v3/instruments``, ``tickers``; ``/api/charts/v1``) and the recorded
ccxt fixtures in ``/work/shared/fixtures``. Prices and volumes are illustrative, not recorded.

Candles come from recorded files in the data folder when present (``{ALTNAME}-{minutes}m.parquet``
or ``.csv`` with columns ``ts, open, high, low, close, volume``, e.g. ``XBTUSD-60m.parquet``; futures
under ``futures/{SYMBOL}-{minutes}m.parquet``, mark and index charts under ``futures/{SYMBOL}-mark-...`` and
``futures/{SYMBOL}-spot-...`` first), otherwise from a seeded synthetic series that is a
pure function of (symbol, time), so every page of a paged fetch agrees with every other. An interval with no
recording of its own is aggregated from a finer recording of the same series when there is one.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

SPOT_OHLC_CAP = 720  # Kraken spot returns at most 720 candles per OHLC call
FUTURES_CHART_CAP = 2000  # Kraken Futures charts return at most 2,000 candles per window

# Flex margin schedule (fraction of notional by position notional in USD), as Kraken publishes
# it for class A/B contracts: 50x down to 2x. ``numNonContractUnits`` is the tier's start, USD.
_SCHEDULE_50X: tuple[tuple[int, float, float], ...] = (
    (0, 0.02, 0.01), (500_000, 0.04, 0.02), (1_000_000, 0.1, 0.05), (5_000_000, 0.2, 0.1), (10_000_000, 0.5, 0.25))
_SCHEDULE_20X: tuple[tuple[int, float, float], ...] = (
    (0, 0.05, 0.025), (100_000, 0.1, 0.05), (500_000, 0.2, 0.1), (1_000_000, 0.5, 0.25))


@dataclass(slots=True)
class FuturesContract:
    """One Kraken Futures instrument with its live state (mark, suspended flag)."""

    symbol: str
    kind: str  # Kraken's instrument ``type``: flexible_futures | futures_inverse
    base: str  # Kraken's base id (XBT, not BTC)
    tick_size: float
    lot_precision: int  # Kraken's contractValueTradePrecision: lot = 10 ** -precision
    mark: float
    tag: str = "perpetual"
    last_trading: datetime | None = None
    suspended: bool = False
    volume_24h: float = 1_000.0
    open_interest: float = 500.0
    funding_rate_rel: float = 0.00001  # relative, per hour; Kraken's ticker quotes it absolute
    schedule: tuple[tuple[float, float, float], ...] = _SCHEDULE_50X  # real marginLevels: fake_kraken_instruments
    post_only: bool = False  # Kraken's postOnly: only post-only limits and trigger orders are accepted

    @property
    def lot_size(self) -> Decimal:
        return Decimal(1).scaleb(-self.lot_precision)

    @property
    def is_linear(self) -> bool:
        return self.kind == "flexible_futures"

    def margin_rates(self, notional_usd: float) -> tuple[float, float]:
        """(initial, maintenance) margin fractions for a position of ``notional_usd``."""
        im, mm = self.schedule[0][1], self.schedule[0][2]
        for start, tier_im, tier_mm in self.schedule:
            if notional_usd >= start:
                im, mm = tier_im, tier_mm
        return im, mm


@dataclass(frozen=True, slots=True)
class SpotPair:
    """One Kraken spot pair as ``AssetPairs`` lists it."""

    pair_id: str  # XXBTZUSD
    altname: str  # XBTUSD
    wsname: str  # XBT/USD
    base: str  # asset id: XXBT
    quote: str  # asset id: ZUSD
    pair_decimals: int
    lot_decimals: int
    ordermin: str
    price: float  # anchor of the synthetic series
    status: str = "online"


def _last_friday(year: int, month: int) -> datetime:
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, 8, tzinfo=UTC)
    day = nxt - timedelta(days=1)
    while day.weekday() != 4:
        day -= timedelta(days=1)
    return day


def default_contracts(now: datetime) -> list[FuturesContract]:
    """The futures catalogue: what Krakenbot's mapping must handle, with Kraken's real names.

    Kraken lists low-priced coins without a multiplier prefix (``PF_SHIBUSD``, ``PF_PEPEUSD``,
    lot 1,000 base units; its contract specs say the contracts carry no multiplier), and
    ``PF_1INCHUSD`` is a base that merely starts with a digit. ``PF_1MBABYDOGEUSD`` (one contract =
    one million BABYDOGE) is the multiplier-prefixed case; that listing is taken from the symbol
    module's notes, not verified against Kraken's live list.
    """
    expiry = _last_friday(now.year + (now.month == 12), now.month % 12 + 1)
    return [
        FuturesContract(symbol="PF_XBTUSD", kind="flexible_futures", base="XBT", tick_size=1, lot_precision=4,
                        mark=97_000.0, volume_24h=8_300.0, open_interest=1_950.0),
        FuturesContract(symbol="PF_ETHUSD", kind="flexible_futures", base="ETH", tick_size=0.1, lot_precision=3,
                        mark=3_400.0, volume_24h=60_000.0, open_interest=25_000.0),
        FuturesContract(symbol="PF_THETAUSD", kind="flexible_futures", base="THETA", tick_size=0.0001,
                        lot_precision=1, mark=1.85, volume_24h=900_000.0, schedule=_SCHEDULE_20X),
        FuturesContract(symbol="PF_LUNA2USD", kind="flexible_futures", base="LUNA2", tick_size=0.0001,
                        lot_precision=0, mark=0.45, volume_24h=4_000_000.0, schedule=_SCHEDULE_20X),
        FuturesContract(symbol="PF_SHIBUSD", kind="flexible_futures", base="SHIB", tick_size=0.000000001,
                        lot_precision=-3, mark=0.000021, volume_24h=90_000_000_000.0, schedule=_SCHEDULE_20X),
        FuturesContract(symbol="PF_PEPEUSD", kind="flexible_futures", base="PEPE", tick_size=0.0000000001,
                        lot_precision=-3, mark=0.0000182, volume_24h=400_000_000_000.0, schedule=_SCHEDULE_20X),
        FuturesContract(symbol="PF_1MBABYDOGEUSD", kind="flexible_futures", base="1MBABYDOGE",
                        tick_size=0.000001, lot_precision=0, mark=0.0013, volume_24h=50_000_000.0,
                        schedule=_SCHEDULE_20X),
        FuturesContract(symbol="PF_1INCHUSD", kind="flexible_futures", base="1INCH", tick_size=0.0001,
                        lot_precision=0, mark=0.42, volume_24h=2_000_000.0, schedule=_SCHEDULE_20X),
        FuturesContract(symbol="PF_FTMUSD", kind="flexible_futures", base="FTM", tick_size=0.0001, lot_precision=0,
                        mark=0.71, suspended=True, volume_24h=0.0, schedule=_SCHEDULE_20X),
        FuturesContract(symbol="PI_XBTUSD", kind="futures_inverse", base="XBT", tick_size=0.5, lot_precision=0,
                        mark=97_010.0, volume_24h=40_000_000.0),
        FuturesContract(symbol="PI_THETAUSD", kind="futures_inverse", base="THETA", tick_size=0.0001,
                        lot_precision=0, mark=1.851, volume_24h=300_000.0, schedule=_SCHEDULE_20X),
        FuturesContract(symbol=f"FF_XBTUSD_{expiry:%y%m%d}", kind="flexible_futures", base="XBT", tick_size=1,
                        lot_precision=4, mark=97_600.0, tag="month", last_trading=expiry, volume_24h=120.0),
    ]


def default_spot_pairs() -> list[SpotPair]:
    """Spot pairs in Kraken's naming (X/Z-prefixed legacy ids where Kraken uses them)."""
    return [
        SpotPair(pair_id="XXBTZUSD", altname="XBTUSD", wsname="XBT/USD", base="XXBT", quote="ZUSD",
                 pair_decimals=1, lot_decimals=8, ordermin="0.00005", price=97_000.0),
        SpotPair(pair_id="XETHZUSD", altname="ETHUSD", wsname="ETH/USD", base="XETH", quote="ZUSD",
                 pair_decimals=2, lot_decimals=8, ordermin="0.002", price=3_400.0),
        SpotPair(pair_id="THETAUSD", altname="THETAUSD", wsname="THETA/USD", base="THETA", quote="ZUSD",
                 pair_decimals=4, lot_decimals=8, ordermin="5", price=1.85),
        SpotPair(pair_id="LUNA2USD", altname="LUNA2USD", wsname="LUNA2/USD", base="LUNA2", quote="ZUSD",
                 pair_decimals=4, lot_decimals=8, ordermin="10", price=0.45),
        SpotPair(pair_id="LUNAUSD", altname="LUNAUSD", wsname="LUNA/USD", base="LUNA", quote="ZUSD",
                 pair_decimals=8, lot_decimals=2, ordermin="50000", price=0.00006),
        SpotPair(pair_id="SHIBUSD", altname="SHIBUSD", wsname="SHIB/USD", base="SHIB", quote="ZUSD",
                 pair_decimals=8, lot_decimals=0, ordermin="250000", price=0.000021),
        SpotPair(pair_id="XDGUSD", altname="XDGUSD", wsname="XDG/USD", base="XXDG", quote="ZUSD",
                 pair_decimals=7, lot_decimals=8, ordermin="15", price=0.31),
    ]


def _asset_entry(asset_id: str, altname: str, decimals: int = 10) -> dict[str, Any]:
    return {"aclass": "currency", "altname": altname, "decimals": decimals, "display_decimals": 5,
            "collateral_value": 1.0, "status": "enabled"}


def assets_body(pairs: list[SpotPair]) -> dict[str, Any]:
    """``/0/public/Assets``: every asset the pairs use, keyed by Kraken's asset id."""
    alt = {"XXBT": "XBT", "ZUSD": "USD", "XETH": "ETH", "XXDG": "XDG"}
    result: dict[str, Any] = {}
    for pair in pairs:
        for asset in (pair.base, pair.quote):
            result[asset] = _asset_entry(asset, alt.get(asset, asset), 4 if asset == "ZUSD" else 10)
    return {"error": [], "result": result}


def asset_pairs_body(pairs: list[SpotPair]) -> dict[str, Any]:
    """``/0/public/AssetPairs`` in Kraken's shape."""
    result: dict[str, Any] = {}
    for p in pairs:
        tick = format(Decimal(1).scaleb(-p.pair_decimals), "f")
        result[p.pair_id] = {
            "altname": p.altname, "wsname": p.wsname, "aclass_base": "currency", "base": p.base,
            "aclass_quote": "currency", "quote": p.quote, "lot": "unit", "cost_decimals": 5,
            "pair_decimals": p.pair_decimals, "lot_decimals": p.lot_decimals, "lot_multiplier": 1,
            "leverage_buy": [], "leverage_sell": [],
            "fees": [[0, 0.4], [10000, 0.35], [50000, 0.24]], "fees_maker": [[0, 0.25], [10000, 0.2], [50000, 0.14]],
            "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40, "ordermin": p.ordermin,
            "costmin": "0.5", "tick_size": tick, "status": p.status,
        }
    return {"error": [], "result": result}


def instrument_entry(c: FuturesContract) -> dict[str, Any]:
    """One ``/derivatives/api/v3/instruments`` entry in Kraken's shape."""
    pair = f"{c.base}:USD"
    entry: dict[str, Any] = {
        "symbol": c.symbol, "type": c.kind, "tradeable": not c.suspended, "tickSize": c.tick_size,
        "contractSize": 1, "impactMidSize": 1, "maxPositionSize": 1_000_000,
        "openingDate": "2022-01-01T00:00:00.000Z", "fundingRateCoefficient": 8,
        "maxRelativeFundingRate": 0.001, "contractValueTradePrecision": c.lot_precision,
        "postOnly": c.post_only, "feeScheduleUid": "eef90775-995b-4596-9257-0917f6134766",
        "category": "", "tags": [], "tradfi": False, "mtf": False, "pair": pair, "base": c.base, "quote": "USD",
    }
    unit_key = "numNonContractUnits" if c.is_linear else "contracts"
    entry["marginLevels"] = [{unit_key: start, "initialMargin": im, "maintenanceMargin": mm}
                             for start, im, mm in c.schedule]
    if not c.is_linear:
        entry["underlying"] = f"rr_{c.base.lower()}usd"
        entry["retailMarginLevels"] = [{"contracts": 0, "initialMargin": 0.5, "maintenanceMargin": 0.25}]
    if c.last_trading is not None:
        entry["lastTradingTime"] = iso_ms(c.last_trading)
    return entry


def instruments_body(contracts: list[FuturesContract], now: datetime) -> dict[str, Any]:
    """``/derivatives/api/v3/instruments``: the contracts plus the two XBT indices Kraken lists."""
    entries = [instrument_entry(c) for c in contracts]
    entries += [{"symbol": "in_xbtusd", "type": "spot index", "tradeable": False},
                {"symbol": "rr_xbtusd", "type": "spot index", "tradeable": False}]
    return {"result": "success", "instruments": entries, "serverTime": iso_ms(now)}


def _round_to(value: float, step: float) -> float:
    steps = round(value / step)
    return float(Decimal(steps) * Decimal(repr(step)))


def ticker_entry(c: FuturesContract, now: datetime) -> dict[str, Any]:
    """One ``/derivatives/api/v3/tickers`` entry, with Kraken's field names and number types.

    ``fundingRate`` and ``fundingRatePrediction`` are *absolute* (USD per contract per hour),
    as Kraken quotes them; divide by the mark for the relative rate.
    """
    spread = max(c.tick_size, c.mark * 0.0001)
    bid, ask = _round_to(c.mark - spread, c.tick_size), _round_to(c.mark + spread, c.tick_size)
    last = _round_to(c.mark, c.tick_size)
    open24h = _round_to(c.mark * 0.99, c.tick_size)
    return {
        "tag": c.tag, "pair": f"{c.base}:USD", "symbol": c.symbol, "markPrice": c.mark,
        "bid": bid, "bidSize": 2.5, "ask": ask, "askSize": 1.7,
        "vol24h": c.volume_24h, "volumeQuote": round(c.volume_24h * c.mark, 2), "openInterest": c.open_interest,
        "open24h": open24h, "high24h": _round_to(c.mark * 1.02, c.tick_size),
        "low24h": _round_to(c.mark * 0.98, c.tick_size), "indexPrice": round(c.mark * 0.9998, 10),
        "last": last, "lastTime": iso_ms(now - timedelta(seconds=2)), "lastSize": 0.01,
        "suspended": c.suspended, "fundingRate": c.funding_rate_rel * c.mark,
        "fundingRatePrediction": c.funding_rate_rel * 0.8 * c.mark, "postOnly": c.post_only,
        "change24h": round((last / open24h - 1) * 100, 4),
    }


def tickers_body(contracts: list[FuturesContract], now: datetime) -> dict[str, Any]:
    """The whole ``/derivatives/api/v3/tickers`` body, indices included as Kraken sends them."""
    tickers: list[dict[str, Any]] = [ticker_entry(c, now) for c in contracts]
    xbt = next((c for c in contracts if c.symbol == "PF_XBTUSD"), None)
    if xbt is not None:
        for index in ("in_xbtusd", "rr_xbtusd"):
            tickers.append({"symbol": index, "last": round(xbt.mark * 0.9998, 2),
                            "lastTime": iso_ms(now.replace(microsecond=0))})
    return {"result": "success", "tickers": tickers, "serverTime": iso_ms(now)}


def iso_ms(ts: datetime) -> str:
    """Kraken's timestamp form: ``2024-02-06T22:24:34.849Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def decimal_str(value: float) -> str:
    """A float as a plain decimal string (no exponent), exact to its shortest repr."""
    return format(Decimal(repr(float(value))), "f")


@dataclass(frozen=True, slots=True)
class Bar:
    ts_s: int  # open time, epoch seconds
    open: float
    high: float
    low: float
    close: float
    volume: float


def _unit(seed: str, i: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(slots=True)
class CandleStore:
    """Candles per (series key, minutes): recorded when a file exists, else seeded synthetic."""

    data_dir: Path | None
    seed: int = 7
    _recorded: dict[tuple[str, int], list[Bar]] = field(default_factory=dict)

    def record(self, name: str, minutes: int, bars: list[Bar]) -> None:
        """Serve ``bars`` (ascending) as the recorded series ``name`` (e.g. a spot altname ``XBTUSD``)."""
        self._recorded[(name, minutes)] = sorted(bars, key=lambda b: b.ts_s)

    def _load(self, name: str, minutes: int) -> list[Bar] | None:
        key = (name, minutes)
        if key in self._recorded:
            return self._recorded[key]
        if self.data_dir is None:
            return None
        for ext in ("parquet", "csv"):
            path = self.data_dir / f"{name}-{minutes}m.{ext}"
            if path.exists():
                bars = _read_bars(path)
                self._recorded[key] = bars
                return bars
        return None

    def finest(self, names: list[str]) -> tuple[int, list[Bar] | None]:
        """(minutes, bars) of the finest recorded series under any of ``names`` (the first name that has one);
        ``(1, None)`` when none is recorded: the synthetic 1-minute series."""
        for name in names:
            found = {m for (n, m) in self._recorded if n == name}
            if self.data_dir is not None:
                pattern = re.compile(rf"^{re.escape(name)}-(\d+)m\.(parquet|csv)$")
                found |= {int(m[1]) for path in self.data_dir.glob(f"{name}-*m.*")
                          if (m := pattern.match(path.name))}
            if found:
                minutes = min(found)
                return minutes, self._load(name, minutes)
        return 1, None

    def bars(self, names: list[str], minutes: int, anchor: float, start_s: int, end_s: int) -> list[Bar]:
        """Bars with open time in ``[start_s, end_s]``, ascending; recorded under any of ``names``."""
        for name in names:
            recorded = self._load(name, minutes)
            if recorded is not None:
                return [b for b in recorded if start_s <= b.ts_s <= end_s]
            finer, fine_bars = self.finest([name])
            if fine_bars is not None and finer < minutes and minutes % finer == 0:
                return _aggregate(fine_bars, minutes * 60, start_s, end_s)
        step = minutes * 60
        first = -(-start_s // step) * step
        return [self._synthetic(names[0], anchor, ts, step) for ts in range(first, end_s + 1, step)]

    def _synthetic(self, name: str, anchor: float, ts_s: int, step: int) -> Bar:
        seed = f"{self.seed}:{name}"

        def price(t: int) -> float:
            wave = 0.04 * math.sin(t / 86_400 * 2 * math.pi / 7) + 0.01 * math.sin(t / 3_600 * 2 * math.pi / 5)
            return anchor * (1 + wave + 0.002 * (_unit(seed, t) - 0.5))

        open_, close = price(ts_s), price(ts_s + step)
        spread = 0.003 * _unit(seed + ":r", ts_s)
        return Bar(ts_s=ts_s, open=open_, close=close, high=max(open_, close) * (1 + spread),
                   low=min(open_, close) * (1 - spread), volume=round(10 * _unit(seed + ":v", ts_s), 8))


def _aggregate(bars: list[Bar], step: int, start_s: int, end_s: int) -> list[Bar]:
    """Candles of ``step`` seconds built from finer ``bars`` (ascending), open times in ``[start_s, end_s]``;
    intervals without a finer candle are absent."""
    out: list[Bar] = []
    for bar in bars:
        ts = bar.ts_s // step * step
        if ts < start_s or ts > end_s:
            continue
        if out and out[-1].ts_s == ts:
            last = out[-1]
            out[-1] = Bar(ts_s=ts, open=last.open, high=max(last.high, bar.high), low=min(last.low, bar.low),
                          close=bar.close, volume=last.volume + bar.volume)
        else:
            out.append(Bar(ts_s=ts, open=bar.open, high=bar.high, low=bar.low, close=bar.close, volume=bar.volume))
    return out


def _read_bars(path: Path) -> list[Bar]:
    import pandas as pd  # only the server needs pandas, and only for recorded files

    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    ts = pd.to_datetime(frame["ts"], utc=True)
    seconds = (ts.astype("int64") // 10**9 if ts.dt.unit == "ns"
               else ts.astype("int64") // {"us": 10**6, "ms": 10**3, "s": 1}[ts.dt.unit])
    bars = [Bar(ts_s=int(s), open=float(o), high=float(h), low=float(lo), close=float(c), volume=float(v))
            for s, o, h, lo, c, v in zip(seconds, frame["open"], frame["high"], frame["low"], frame["close"],
                                         frame["volume"], strict=True)]
    bars.sort(key=lambda b: b.ts_s)
    return bars
