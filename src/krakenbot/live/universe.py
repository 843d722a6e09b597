"""Spot pair -> Kraken Futures contract: the one place that decides what Krakenbot trades for a signal.

Krakenbot trades only linear multi-collateral perpetuals (``PF_``). A spot pair maps to the best
executable one on its asset, or to nothing with a reason; "nothing" is a value, never an exception.
:func:`resolve_futures` and :func:`discover_universe` are pure; :class:`FuturesAdapter` adds the
operator warning ``"<spot>: Futures symbol not found ..."``, logged once per spot pair per adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from krakenbot.config.models import UniverseConfig
from krakenbot.domain.market import Ticker
from krakenbot.exchange.kraken.symbols import (
    ContractKind,
    FuturesContract,
    FuturesTickers,
    canonical_asset,
    parse_futures_symbol,
    parse_spot_pair,
)

log = logging.getLogger(__name__)

_TRADED_QUOTE = "USD"


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesMapping:
    """Where a spot pair's signals are traded.

    ``spot`` is the pair as given; ``futures`` the raw contract id (``PF_XBTUSD``) or None;
    ``unified`` its CCXT symbol; ``multiplier`` the underlying units per contract price unit
    (contract price = multiplier x spot price; 1 for ordinary contracts); ``reason`` says why the
    mapping is unusable, and is None exactly when it is usable (:attr:`ok`). An override naming a
    contract that is absent, suspended or not a ``PF_`` perpetual keeps ``futures`` set but carries a
    reason. ``ticker`` is the contract's ticker when it was found.
    """

    spot: str
    futures: str | None
    unified: str | None = None
    multiplier: int = 1
    reason: str | None = None
    asset: str | None = None
    from_override: bool = False
    ticker: Ticker | None = None

    def __post_init__(self) -> None:
        if self.futures is None and self.reason is None:
            raise ValueError(f"FuturesMapping({self.spot}): a mapping without a contract needs a reason")
        if self.multiplier < 1:
            raise ValueError(f"FuturesMapping({self.spot}): multiplier must be >= 1, got {self.multiplier}")

    @property
    def ok(self) -> bool:
        """True when ``futures`` is a present, live ``PF_`` perpetual Krakenbot may trade."""
        return self.futures is not None and self.reason is None


def _unusable_reason(contract: FuturesContract | None, ticker: Ticker) -> str | None:
    if contract is None or contract.kind is not ContractKind.LINEAR_PERPETUAL:
        label = contract.kind.label if contract else "not a Kraken Futures id"
        return f"{ticker.symbol} is a {label}; Krakenbot trades only PF_ linear perpetuals"
    if ticker.suspended:
        return f"{ticker.symbol} is suspended"
    return None


def _from_override(spot: str, target: str, tickers: FuturesTickers) -> FuturesMapping:
    ticker = tickers.contracts.get(target.strip().upper())
    contract = parse_futures_symbol(target)
    asset = contract.asset if contract else None
    multiplier = contract.multiplier if contract else 1
    if ticker is None:
        return FuturesMapping(spot=spot, futures=target.strip(), unified=contract.unified_symbol if contract else None,
                              multiplier=multiplier, asset=asset, from_override=True,
                              reason=f"override {target!r} is not in the futures tickers")
    reason = _unusable_reason(contract, ticker)
    return FuturesMapping(spot=spot, futures=ticker.symbol, unified=ticker.unified_symbol, multiplier=multiplier,
                          asset=asset, from_override=True, ticker=ticker,
                          reason=f"override: {reason}" if reason else None)


def _find_override(spot: str, overrides: Mapping[str, str]) -> str | None:
    if spot in overrides:
        return overrides[spot]
    wanted = parse_spot_pair(spot)
    for key, target in overrides.items():
        if key.strip().upper() == spot.strip().upper():
            return target
        other = parse_spot_pair(key)
        if wanted and other and not wanted.ambiguous and not other.ambiguous and other.symbol == wanted.symbol:
            return target
    return None


def _rank(ticker: Ticker, contract: FuturesContract) -> tuple[int, int, int, str]:
    # Prefer the CCXT unified linear perpetual of the asset itself (BTC/USD:USD), then its plain PF_
    # id, then any other PF_ contract on the asset (a multiplied one).
    canonical_unified = f"{contract.asset}/{_TRADED_QUOTE}:{_TRADED_QUOTE}"
    unified_match = 0 if (ticker.unified_symbol or "").upper() == canonical_unified else 1
    plain = 0 if contract.multiplier == 1 else 1
    return (unified_match, plain, contract.multiplier, ticker.symbol.upper())


def _no_contract_reason(asset: str, found: list[tuple[Ticker, FuturesContract]]) -> str:
    if not found:
        return f"no futures contract on {asset}"
    rejected = []
    for ticker, contract in found:
        if contract.kind is ContractKind.LINEAR_PERPETUAL:
            rejected.append(f"{ticker.symbol} (suspended)")
        else:
            rejected.append(f"{ticker.symbol} ({contract.kind.label})")
    return f"no live PF_ linear perpetual on {asset}; only {', '.join(rejected)}"


def resolve_futures(spot_symbol: str, futures_tickers: FuturesTickers,
                    overrides: Mapping[str, str] | None = None) -> FuturesMapping:
    """Map one spot pair to its contract (pure; see :class:`FuturesAdapter` for the rules)."""
    target = _find_override(spot_symbol, overrides or {})
    if target is not None:
        return _from_override(spot_symbol, target, futures_tickers)
    pair = parse_spot_pair(spot_symbol)
    if pair is None:
        return FuturesMapping(spot=spot_symbol, futures=None, reason=f"{spot_symbol!r} is not a spot pair")
    if pair.ambiguous:
        return FuturesMapping(spot=spot_symbol, futures=None, asset=pair.base, reason=f"ambiguous: {pair.ambiguous}")
    if pair.quote != _TRADED_QUOTE:
        return FuturesMapping(spot=spot_symbol, futures=None, asset=pair.base,
                              reason=f"quote {pair.quote}: only {_TRADED_QUOTE} spot pairs map to USD perpetuals")
    found = [(t, c) for t in futures_tickers.for_asset(pair.base)
             if (c := parse_futures_symbol(t.symbol)) is not None and c.quote == _TRADED_QUOTE]
    usable = [(t, c) for t, c in found if _unusable_reason(c, t) is None]
    if not usable:
        return FuturesMapping(spot=spot_symbol, futures=None, asset=pair.base,
                              reason=_no_contract_reason(pair.base, found))
    ticker, contract = min(usable, key=lambda tc: _rank(*tc))
    return FuturesMapping(spot=spot_symbol, futures=ticker.symbol, unified=ticker.unified_symbol,
                          multiplier=contract.multiplier, asset=contract.asset, ticker=ticker)


class FuturesAdapter:
    """Maps spot pairs to PF_ perpetuals, warning once per pair when there is none.

    Rules, in order: a config override (spot pair -> contract id) wins, and is still reported, with
    a reason, when its contract is absent, suspended or not ``PF_``; otherwise the asset of the pair
    (XBT = BTC, LUNA2 is not LUNA/LUNC) is looked up in the normalised tickers and the best live
    ``PF_`` linear perpetual is returned, preferring the CCXT unified ``ASSET/USD:USD`` contract,
    then a plain ``PF_`` id, then a multiplied contract (``PF_1MBABYDOGEUSD`` for ``BABYDOGE/USD``,
    with its multiplier). Suspended, inverse (``PI_``) and dated (``FF_``) contracts are never chosen.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._warned: set[str] = set()

    def map_spot_to_futures(self, spot_symbol: str, futures_tickers: FuturesTickers) -> FuturesMapping:
        """The contract for ``spot_symbol``, or ``futures=None`` with a reason; never raises for "no contract"."""
        mapping = resolve_futures(spot_symbol, futures_tickers, self._overrides)
        if not mapping.ok and spot_symbol not in self._warned:
            self._warned.add(spot_symbol)
            log.warning("%s: Futures symbol not found (%s)", spot_symbol, mapping.reason)
        return mapping


def discover_universe(futures_tickers: FuturesTickers, spot_pairs: Iterable[str],
                      cfg: UniverseConfig) -> list[FuturesMapping]:
    """The tradable set: live PF_ perpetuals that map to one of ``spot_pairs`` (pure, no logging).

    Applies ``cfg.futures_overrides``, ``cfg.allow`` / ``cfg.deny`` (bases, XBT = BTC) and
    ``cfg.min_volume_24h_usd`` (a contract with unknown USD volume fails a positive minimum). One
    mapping per contract, the first spot spelling that reached it; sorted by 24 h USD volume, largest first.
    """
    allow = {canonical_asset(b) for b in cfg.allow}
    deny = {canonical_asset(b) for b in cfg.deny}
    chosen: dict[str, FuturesMapping] = {}
    for spot in spot_pairs:
        mapping = resolve_futures(spot, futures_tickers, cfg.futures_overrides)
        if not mapping.ok or mapping.futures is None or mapping.asset is None:
            continue
        if mapping.asset in deny or (allow and mapping.asset not in allow):
            continue
        volume = mapping.ticker.volume_24h_usd if mapping.ticker else None
        if cfg.min_volume_24h_usd > 0 and (volume is None or volume < cfg.min_volume_24h_usd):
            continue
        chosen.setdefault(mapping.futures.upper(), mapping)

    def volume_of(m: FuturesMapping) -> float:
        return (m.ticker.volume_24h_usd or 0.0) if m.ticker else 0.0

    return sorted(chosen.values(), key=lambda m: (-volume_of(m), m.futures or ""))
