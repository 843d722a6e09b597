"""Kraken symbol names in one module: spot pairs, futures contract ids, CCXT unified symbols, and
futures tickers reachable under every key a caller may hold. Pure: no I/O.

Spot pairs: one pair may be written as CCXT does (``BTC/USD``), as Kraken's wsname (``XBT/USD``), pair
id (``XXBTZUSD``) or altname (``XBTUSD``), with ``-`` or ``_`` also taken as a separator.

Futures: Kraken Futures names a contract ``<PREFIX>_<BASE><QUOTE>[_<YYMMDD>]``: ``PF_`` linear
multi-collateral perpetual (the only kind Krakenbot trades), ``PI_`` inverse perpetual, ``FF_`` linear and
``FI_`` inverse dated futures, ``IN_``/``RR_`` indices. CCXT 4.5.90 (``krakenfutures``) renames only ``XBT``
to ``BTC`` (and ``BCHSV`` to ``BSV``): ``PF_XBTUSD`` is ``BTC/USD:USD``, ``PI_XBTUSD`` ``BTC/USD:BTC``,
``FF_XBTUSD_260626`` ``BTC/USD:USD-260626``, ``PF_LUNA2USD`` ``LUNA2/USD:USD``.

Spot and futures meet on a canonical *asset* name: Kraken's own name with ``XBT`` -> ``BTC`` and ``XDG``
-> ``DOGE``; ``LUNA2`` stays ``LUNA2``.

Terra: Kraken calls Terra Classic ``LUNA`` and Terra 2.0 ``LUNA2``; CCXT's spot markets call them ``LUNC``
and ``LUNA``. An unseparated Kraken id (``LUNAUSD``) is Kraken's naming, so ``LUNA`` there is ``LUNC``. A
slash pair ``LUNA/USD`` could be either, so it is reported as ambiguous and never mapped (write
``LUNA2/USD`` or ``LUNC/USD``); a futures contract on base ``LUNA`` is never matched to a spot pair (only
an explicit override reaches it) and is not keyed as ``LUNA/USD``.

Some contracts quote a multiple of the underlying (Kraken lists e.g. ``PF_1MBABYDOGEUSD``: one contract
is one million BABYDOGE). Their base carries a multiplier prefix (``1M``, ``1000``, ...); the
contract price is ``multiplier`` x the spot price of the underlying. Names that merely start with a
digit (``1INCH``, ``2Z``) are not multiplied.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from krakenbot.domain.errors import MarketDataError
from krakenbot.domain.market import Ticker

# --- spot pairs ----------------------------------------------------------------------------------

# Kraken's legacy four-letter asset codes (CCXT kraken commonCurrencies) -> asset.
_LEGACY_CODES = {
    "XXBT": "BTC", "XETH": "ETH", "XXDG": "DOGE", "XLTC": "LTC", "XXRP": "XRP", "XXLM": "XLM", "XXMR": "XMR",
    "XZEC": "ZEC", "XETC": "ETC", "XMLN": "MLN", "XREP": "REP", "ZUSD": "USD", "ZEUR": "EUR", "ZGBP": "GBP",
    "ZCAD": "CAD", "ZJPY": "JPY", "ZAUD": "AUD", "ZCHF": "CHF",
}
# Kraken asset name -> Krakenbot asset, where they differ (spot and futures alike).
_ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE", "BCHSV": "BSV"}
# Quote currencies recognised at the end of an unseparated pair, longest first.
# (Legacy pairs such as XXBTZUSD are two legacy codes back to back and are split 4/4 first.)
_QUOTES = ("PYUSD", "USDT", "USDC", "USD", "EUR", "GBP", "CAD", "JPY", "AUD", "CHF", "XBT", "BTC", "ETH", "DAI")
# Base names whose meaning differs between CCXT and Kraken when written with a slash.
AMBIGUOUS_SPOT_BASES = frozenset({"LUNA"})


def canonical_asset(name: str) -> str:
    """Krakenbot's name of an asset: upper case, legacy codes stripped, ``XBT`` -> ``BTC``, ``XDG`` -> ``DOGE``."""
    upper = name.strip().upper()
    upper = _LEGACY_CODES.get(upper, upper)
    return _ASSET_ALIASES.get(upper, upper)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotPair:
    """A spot pair as Krakenbot understands it.

    ``given`` is the caller's spelling; ``base`` and ``quote`` are canonical assets. ``ambiguous``
    carries a reason when the name cannot be trusted to mean one asset (then it must not be mapped).
    """

    given: str
    base: str
    quote: str
    ambiguous: str | None = None

    @property
    def symbol(self) -> str:
        """Canonical ``BASE/QUOTE``."""
        return f"{self.base}/{self.quote}"


# Kraken pair ids that are neither two legacy codes nor base + plain quote: a new-style base with a legacy
# Z-prefixed quote. (A general "ends in Z + fiat" rule would break XTZUSD, Tezos.)
_IRREGULAR_IDS = {"USDTZUSD": ("USDT", "USD")}


def _split_unseparated(text: str) -> tuple[str, str] | None:
    if text in _IRREGULAR_IDS:
        return _IRREGULAR_IDS[text]
    if len(text) == 8 and text[:4] in _LEGACY_CODES and text[4:] in _LEGACY_CODES:
        return text[:4], text[4:]
    for quote in _QUOTES:
        if text.endswith(quote) and len(text) >= len(quote) + 2:
            return text[: -len(quote)], quote
    return None


def parse_spot_pair(pair: str) -> SpotPair | None:
    """Parse a spot pair in any accepted spelling; None when it is not a spot pair.

    A futures or unified-derivative symbol (``PF_XBTUSD``, ``BTC/USD:USD``) is not a spot pair.
    """
    text = pair.strip().upper()
    if not text or ":" in text or text[:3] in ("PF_", "PI_", "FF_", "FI_"):
        return None
    for separator in ("/", "-", "_"):
        if separator in text:
            parts = text.split(separator)
            if len(parts) != 2 or not all(parts):
                return None
            base_raw, quote_raw = parts
            if base_raw in AMBIGUOUS_SPOT_BASES:
                return SpotPair(given=pair, base=base_raw, quote=canonical_asset(quote_raw),
                                ambiguous=(f"'{base_raw}' means Terra 2.0 in CCXT and Terra Classic on Kraken; "
                                           f"write LUNA2/{quote_raw} or LUNC/{quote_raw}"))
            return SpotPair(given=pair, base=canonical_asset(base_raw), quote=canonical_asset(quote_raw))
    split = _split_unseparated(text)
    if split is None:
        return None
    base_raw, quote_raw = split
    base = canonical_asset(base_raw)
    if base == "LUNA":  # Kraken's own id: LUNA is Terra Classic
        base = "LUNC"
    return SpotPair(given=pair, base=base, quote=canonical_asset(quote_raw))


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotMarketName:
    """One spot market as the exchange lists it: ``unified`` is CCXT's symbol (``LUNA/USD`` for Kraken's
    ``LUNA2USD``), ``market_id`` Kraken's pair id (``XXBTZUSD``), ``altname`` Kraken's altname (``XBTUSD``)."""

    unified: str
    market_id: str
    altname: str


def resolve_spot_pair(pair: str, markets: Iterable[SpotMarketName]) -> tuple[str | None, str | None]:
    """The CCXT symbol of Krakenbot's spot ``pair`` among ``markets``: ``(unified, None)``, or ``(None, why)``.

    Matched on Kraken's own names, never on CCXT's renames: ``pair`` given as Kraken's pair id or altname
    matches that market; otherwise its canonical ``BASE/QUOTE`` (``LUNA2/USD``, ``BTC/USD`` = ``XBT/USD``,
    ``LUNC/USD``) is compared with each market's altname read the Kraken way (``LUNA2USD`` -> ``LUNA2/USD``,
    ``LUNAUSD`` -> ``LUNC/USD``, ``XDGUSD`` -> ``DOGE/USD``). A CCXT unified symbol that means the same
    asset on Kraken (``BTC/USD``, ``DOGE/USD``) resolves like that; an ambiguous one (``LUNA/USD``) does not.
    """
    listed = list(markets)
    text = pair.strip().upper()
    for market in listed:
        if text in (market.market_id.upper(), market.altname.upper()):
            return market.unified, None
    wanted = parse_spot_pair(pair)
    if wanted is None:
        return None, f"{pair!r} is not a spot pair (write BASE/QUOTE, e.g. BTC/USD)"
    if wanted.ambiguous:
        return None, wanted.ambiguous
    for market in listed:
        listed_as = parse_spot_pair(market.altname)
        if listed_as is not None and listed_as.symbol == wanted.symbol:
            return market.unified, None
    return None, f"Kraken lists no spot market {wanted.symbol}"


# --- futures contract ids -------------------------------------------------------------------------


class ContractKind(StrEnum):
    LINEAR_PERPETUAL = "linear_perpetual"  # PF_
    INVERSE_PERPETUAL = "inverse_perpetual"  # PI_
    LINEAR_DATED = "linear_dated"  # FF_
    INVERSE_DATED = "inverse_dated"  # FI_
    INDEX = "index"  # IN_, RR_: not tradable

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    ContractKind.LINEAR_PERPETUAL: "linear perpetual",
    ContractKind.INVERSE_PERPETUAL: "inverse perpetual",
    ContractKind.LINEAR_DATED: "dated linear future",
    ContractKind.INVERSE_DATED: "dated inverse future",
    ContractKind.INDEX: "index",
}
_PREFIX_KINDS = {"PF": ContractKind.LINEAR_PERPETUAL, "PI": ContractKind.INVERSE_PERPETUAL,
                 "FF": ContractKind.LINEAR_DATED, "FI": ContractKind.INVERSE_DATED,
                 "IN": ContractKind.INDEX, "RR": ContractKind.INDEX}
# Preference among contracts that share a key: the one Krakenbot could trade first.
_KIND_RANK = {ContractKind.LINEAR_PERPETUAL: 0, ContractKind.INVERSE_PERPETUAL: 1, ContractKind.LINEAR_DATED: 2,
              ContractKind.INVERSE_DATED: 3, ContractKind.INDEX: 4}
# CCXT krakenfutures commonCurrencies (4.5.90).
_CCXT_FUTURES_CURRENCIES = {"XBT": "BTC", "BCHSV": "BSV"}
# Longest first: "1000000" must win over "1000".
_MULTIPLIER_PREFIXES = (("1000000", 1_000_000), ("100000", 100_000), ("10000", 10_000), ("1000", 1000),
                        ("1M", 1_000_000), ("1K", 1000))
_SYMBOL_RE = re.compile(r"^(?P<prefix>[A-Z]{2})_(?P<pair>[A-Z0-9]+?)(?:_(?P<expiry>\d{6}))?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesContract:
    """What a Kraken Futures contract id says about itself.

    ``base_id`` is Kraken's base (``XBT``, ``1MBABYDOGE``); ``asset`` the Krakenbot asset of the
    underlying (``BTC``, ``BABYDOGE``); ``multiplier`` the underlying units one price unit stands for
    (contract price = multiplier x spot price); ``expiry`` is ``YYMMDD`` for dated contracts.
    """

    symbol: str
    kind: ContractKind
    base_id: str
    asset: str
    quote: str
    multiplier: int = 1
    expiry: str | None = None

    @property
    def unified_symbol(self) -> str | None:
        """The CCXT 4.5.90 unified symbol, or None for an index."""
        if self.kind is ContractKind.INDEX:
            return None
        base = _CCXT_FUTURES_CURRENCIES.get(self.base_id, self.base_id)
        inverse = self.kind in (ContractKind.INVERSE_PERPETUAL, ContractKind.INVERSE_DATED)
        symbol = f"{base}/{self.quote}:{base if inverse else self.quote}"
        return f"{symbol}-{self.expiry}" if self.expiry else symbol


def _split_multiplier(base_id: str) -> tuple[str, int]:
    for prefix, multiplier in _MULTIPLIER_PREFIXES:
        rest = base_id[len(prefix):]
        if base_id.startswith(prefix) and len(rest) >= 2 and rest[0].isalpha():
            return rest, multiplier
    return base_id, 1


def parse_futures_symbol(raw_symbol: str) -> FuturesContract | None:
    """Parse a Kraken Futures id (any case) such as ``PF_XBTUSD``; None when it is not one."""
    return _parse_futures_symbol(raw_symbol)


@lru_cache(maxsize=8192)  # pure and asked for every contract of every tick: the venue lists a few hundred ids
def _parse_futures_symbol(raw_symbol: str) -> FuturesContract | None:
    match = _SYMBOL_RE.match(raw_symbol.strip().upper())
    if match is None or match["prefix"] not in _PREFIX_KINDS:
        return None
    kind = _PREFIX_KINDS[match["prefix"]]
    pair = match["pair"]
    if len(pair) < 4:  # CCXT's rule: the quote is the last three characters, always USD in practice
        return None
    base_id, quote = pair[:-3], pair[-3:]
    dated = kind in (ContractKind.LINEAR_DATED, ContractKind.INVERSE_DATED)
    if dated != (match["expiry"] is not None):
        return None
    underlying, multiplier = _split_multiplier(base_id)
    asset = _ASSET_ALIASES.get(underlying, underlying)
    return FuturesContract(symbol=raw_symbol.strip(), kind=kind, base_id=base_id, asset=asset, quote=quote,
                           multiplier=multiplier, expiry=match["expiry"])


def unified_symbol_for(raw_symbol: str) -> str | None:
    """CCXT 4.5.90 unified symbol of a futures id: ``PF_XBTUSD`` -> ``BTC/USD:USD``; None if unknown."""
    contract = parse_futures_symbol(raw_symbol)
    return contract.unified_symbol if contract else None


# --- raw ticker -> domain Ticker -------------------------------------------------------------------


# The fast tick parses every field of a few hundred tickers each second: the helpers take the value
# itself and answer Kraken's JSON floats without a conversion; anything else takes the checked path.
_INF = math.inf


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, bool, unparseable, NaN or infinite)."""
    if type(value) is float:
        return value if value - value == 0.0 else None  # NaN and +-inf give NaN
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive(value: Any) -> float | None:
    if type(value) is float:
        return value if 0.0 < value < _INF else None  # NaN compares False
    number = finite_float(value)
    return number if number is not None and number > 0 else None


def _non_negative(value: Any) -> float | None:
    if type(value) is float:
        return value if 0.0 <= value < _INF else None
    number = finite_float(value)
    return number if number is not None and number >= 0 else None


def _flag(value: Any) -> bool:
    if value is False or value is True:
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else None
    try:  # a time that does not fit a datetime (0001-01-01T00:00:00+01:00 is before year 1 in UTC) is no time
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return datetime.fromtimestamp(value / 1000, tz=UTC)  # epoch milliseconds
        if isinstance(value, str) and value.strip():
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            if parsed.tzinfo is UTC:  # Kraken's "...Z": already UTC
                return parsed
            return parsed.astimezone(UTC) if parsed.tzinfo else None
    except (ValueError, OverflowError, OSError):
        return None
    return None


def futures_ticker_from_raw(raw: Mapping[str, Any], *, unified_symbol: str | None = None,
                            ts_fallback: datetime | None = None) -> Ticker | None:
    """One element of Kraken's ``/derivatives/api/v3/tickers`` list (also CCXT's ``ticker['info']``).

    Prices (bid, ask, last, markPrice, indexPrice) that are missing, NaN, zero or negative become
    None; volumes and open interest become None when missing, NaN or negative (zero is kept: it is
    true); ``fundingRate`` keeps its sign (negative funding is normal) and is None only when missing
    or not finite. ``ts`` is ``lastTime`` (Kraken's last trade time), else ``ts_fallback`` (the
    payload's ``serverTime``) when ``lastTime`` is absent. Returns None for a dict without a symbol,
    with a ``lastTime`` that is not a time, or without any usable time.
    ``unified_symbol`` defaults to :func:`unified_symbol_for` of the symbol.
    """
    get = raw.get
    symbol = get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        return None
    last_time = get("lastTime")
    ts = _parse_time(last_time) if last_time not in (None, "") else ts_fallback
    if ts is None:
        return None
    return Ticker(
        symbol=symbol.strip(), ts=ts, bid=_positive(get("bid")), ask=_positive(get("ask")), last=_positive(get("last")),
        mark=_positive(get("markPrice")), index=_positive(get("indexPrice")),
        funding_rate=finite_float(get("fundingRate")), open_interest=_non_negative(get("openInterest")),
        volume_24h=_non_negative(get("vol24h")), volume_24h_usd=_non_negative(get("volumeQuote")),
        suspended=_flag(get("suspended", False)),
        unified_symbol=unified_symbol if unified_symbol is not None else unified_symbol_for(symbol),
        post_only=_flag(get("postOnly", False)))


# --- the normalised mapping ----------------------------------------------------------------------


def _norm(key: str) -> str:
    return key.strip().upper()


def _asset_names(contract: FuturesContract) -> set[str]:
    """Every spelling of the contract's base, XBT and BTC alike (a multiplied base keeps its prefix)."""
    names = {contract.base_id, _CCXT_FUTURES_CURRENCIES.get(contract.base_id, contract.base_id)}
    if contract.multiplier == 1:
        names.add(contract.asset)
        names.update(k for k, v in _ASSET_ALIASES.items() if v == contract.asset)
    return names - AMBIGUOUS_SPOT_BASES


@lru_cache(maxsize=8192)  # pure; one entry per contract (and unified symbol) the venue lists
def _contract_alias_keys(contract: FuturesContract, unified_symbol: str | None) -> frozenset[str]:
    keys = {_norm(unified_symbol)} if unified_symbol else set()
    if contract.kind is ContractKind.INDEX:
        return frozenset()  # an index answers only to its own id
    perpetual = contract.kind in (ContractKind.LINEAR_PERPETUAL, ContractKind.INVERSE_PERPETUAL)
    for name in _asset_names(contract):
        keys.add(f"{name}/{contract.quote}")
        if perpetual:
            keys.add(f"PF_{name}{contract.quote}")
            keys.add(f"{name}/{contract.quote}:{contract.quote}")
    return frozenset(keys)


@lru_cache(maxsize=8192)  # pure; one entry per contract the venue lists (the fast tick asks for each every tick)
def _key_layout(symbol: str, unified_symbol: str | None, raw_key: str) -> tuple[tuple[str, ...], str | None]:
    """(the alias keys of ``symbol`` other than its ``raw_key``, its asset or None for an index); no keys for a
    symbol that is not a futures contract."""
    contract = parse_futures_symbol(symbol)
    if contract is None:
        return (), None
    keys = tuple(_contract_alias_keys(contract, unified_symbol) - {raw_key})
    return keys, (contract.asset if contract.kind is not ContractKind.INDEX else None)


def _preference(ticker: Ticker) -> tuple[int, bool, int, str]:
    kind_rank, multiplier, upper = _static_preference(ticker.symbol)
    return (kind_rank, ticker.suspended, multiplier, upper)


@lru_cache(maxsize=8192)
def _static_preference(symbol: str) -> tuple[int, int, str]:
    contract = parse_futures_symbol(symbol)
    return (_KIND_RANK[contract.kind] if contract else 9, contract.multiplier if contract else 1, symbol.upper())


def _preferred(found: list[Ticker]) -> list[Ticker]:
    return found if len(found) == 1 else sorted(found, key=_preference)


class FuturesTickers(Mapping[str, Ticker]):
    """Futures tickers reachable under every key a caller may hold, case-insensitively.

    Keys: the raw id (``PI_THETAUSD``), the ``PF_`` form (``PF_BTCUSD`` finds ``PF_XBTUSD``), the CCXT
    unified symbol (own, and the linear ``BASE/USD:USD`` form for perpetuals) and ``BASE/USD``; XBT and
    BTC are one asset. A raw id always resolves to itself; a shared key resolves to the preferred
    contract: linear perpetual before inverse before dated, then not suspended, then multiplier 1.
    A multiplied contract (``PF_1MBABYDOGEUSD``) is *not* keyed under its underlying's pair
    (``BABYDOGE/USD``), because its prices are ``multiplier`` x spot: use :meth:`for_asset`.
    Iteration yields every key; :attr:`contracts` holds each ticker once by raw id.
    """

    __slots__ = ("_by_asset", "_by_key", "_contracts")

    def __init__(self, tickers: Iterable[Ticker]) -> None:
        self._contracts: dict[str, Ticker] = {}
        for ticker in tickers:  # a later duplicate of one id replaces the earlier one
            self._contracts[_norm(ticker.symbol)] = ticker
        by_key: dict[str, list[Ticker]] = {}
        by_asset: dict[str, list[Ticker]] = {}
        for raw_key, ticker in self._contracts.items():
            keys, asset = _key_layout(ticker.symbol, ticker.unified_symbol, raw_key)
            for key in keys:
                found = by_key.get(key)
                if found is None:
                    by_key[key] = [ticker]
                else:
                    found.append(ticker)
            if asset is not None:
                by_asset.setdefault(asset, []).append(ticker)
        self._by_key = {key: _preferred(found) for key, found in by_key.items()}
        self._by_asset = {asset: _preferred(found) for asset, found in by_asset.items()}

    def __getitem__(self, key: str) -> Ticker:
        norm = _norm(key)
        if norm in self._contracts:
            return self._contracts[norm]
        found = self._by_key.get(norm)
        if not found:
            raise KeyError(key)
        return found[0]

    def __iter__(self) -> Iterator[str]:
        yield from self._contracts
        yield from (key for key in self._by_key if key not in self._contracts)

    def __len__(self) -> int:
        return len(self._contracts) + sum(1 for key in self._by_key if key not in self._contracts)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (_norm(key) in self._contracts or _norm(key) in self._by_key)

    @property
    def contracts(self) -> Mapping[str, Ticker]:
        """Each ticker once, by its raw id (upper case)."""
        return dict(self._contracts)

    def candidates(self, key: str) -> list[Ticker]:
        """Every ticker answering to ``key``, preferred first (a raw id's own ticker leads)."""
        norm = _norm(key)
        own = [self._contracts[norm]] if norm in self._contracts else []
        return own + [t for t in self._by_key.get(norm, []) if not own or t is not own[0]]

    def for_asset(self, asset: str) -> list[Ticker]:
        """Every non-index contract on ``asset`` (``BTC``, ``BABYDOGE``; multiplied ones too), preferred first."""
        return list(self._by_asset.get(canonical_asset(asset), []))


def normalize_futures_tickers(tickers: Iterable[Ticker]) -> FuturesTickers:
    """Build the all-keys mapping from domain tickers (see :class:`FuturesTickers`)."""
    return FuturesTickers(tickers)


def parse_futures_tickers_payload(body: Mapping[str, Any]) -> FuturesTickers:
    """Normalise a whole ``/derivatives/api/v3/tickers`` body.

    Elements without a symbol or time are skipped. Raises ``MarketDataError`` naming the problem when
    the body is not a tickers payload (not an object, ``result`` other than ``success``, no
    ``tickers`` list).
    """
    if not isinstance(body, Mapping):
        raise MarketDataError(f"futures tickers payload must be a JSON object, got {type(body).__name__}")
    result = body.get("result")
    if result is not None and result != "success":
        raise MarketDataError(f"futures tickers payload has result={result!r} (error={body.get('error')!r})")
    raw_tickers = body.get("tickers")
    if not isinstance(raw_tickers, list):
        keys = sorted(str(k) for k in body)[:8]
        raise MarketDataError(f"futures tickers payload has no 'tickers' list (keys: {keys})")
    server_ts = _parse_time(body.get("serverTime"))
    tickers, _dropped = futures_tickers_from_raws(((raw, None) for raw in raw_tickers), ts_fallback=server_ts)
    return FuturesTickers(tickers)


def _why_unusable(raw: Mapping[str, Any]) -> str:
    symbol = raw.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        return "no symbol"
    return f"lastTime {str(raw.get('lastTime'))[:40]!r} is not a usable time"


def futures_tickers_from_raws(raws: Iterable[tuple[Any, str | None]], *, ts_fallback: datetime | None = None,
                              ) -> tuple[list[Ticker], dict[str, str]]:
    """Parse many raw tickers (each with its unified symbol, or None) one contract at a time.

    A malformed element never fails the others: it is left out and named in the second value,
    ``{symbol or "#<position>": reason}``, for the caller to log.
    """
    tickers: list[Ticker] = []
    dropped: dict[str, str] = {}
    for position, (raw, unified) in enumerate(raws):
        if type(raw) is not dict and not isinstance(raw, Mapping):  # a JSON object is a dict: no ABC check
            dropped[f"#{position}"] = f"not an object ({type(raw).__name__})"
            continue
        name = str(raw.get("symbol") or f"#{position}")[:40]
        try:
            ticker = futures_ticker_from_raw(raw, unified_symbol=unified, ts_fallback=ts_fallback)
        except Exception as exc:  # one contract's bad data must not fail the rest
            dropped[name] = f"{type(exc).__name__}: {str(exc)[:120]}"
            continue
        if ticker is None:
            dropped[name] = _why_unusable(raw)
        else:
            tickers.append(ticker)
    return tickers, dropped
