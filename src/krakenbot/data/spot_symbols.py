"""Kraken spot pair names -> a canonical (asset, quote). Pure: no I/O.

Accepted spellings of one pair: CCXT (``BTC/USD``), Kraken's wsname (``XBT/USD``), Kraken's pair id
(``XXBTZUSD``) and altname (``XBTUSD``), with ``-`` or ``_`` also taken as a separator. Assets are
Kraken's names with ``XBT`` -> ``BTC`` and ``XDG`` -> ``DOGE``, so spot and futures meet on one name.

Terra: Kraken calls Terra Classic ``LUNA`` and Terra 2.0 ``LUNA2``; CCXT's spot markets call them
``LUNC`` and ``LUNA``. An unseparated Kraken id (``LUNAUSD``) is Kraken's naming, so ``LUNA`` there is
``LUNC``. A slash pair ``LUNA/USD`` could be either, so it is reported as ambiguous and never mapped:
write ``LUNA2/USD`` (Terra 2.0) or ``LUNC/USD`` (Terra Classic).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AMBIGUOUS_SPOT_BASES", "SpotPair", "canonical_asset", "parse_spot_pair"]

# Kraken's legacy four-letter asset codes (CCXT kraken commonCurrencies) -> asset.
_LEGACY_CODES = {
    "XXBT": "BTC", "XETH": "ETH", "XXDG": "DOGE", "XLTC": "LTC", "XXRP": "XRP", "XXLM": "XLM", "XXMR": "XMR",
    "XZEC": "ZEC", "XETC": "ETC", "XMLN": "MLN", "XREP": "REP", "ZUSD": "USD", "ZEUR": "EUR", "ZGBP": "GBP",
    "ZCAD": "CAD", "ZJPY": "JPY", "ZAUD": "AUD", "ZCHF": "CHF",
}
_ALIASES = {"XBT": "BTC", "XDG": "DOGE", "BCHSV": "BSV"}
# Quote currencies recognised at the end of an unseparated pair, longest first.
# (Legacy pairs such as XXBTZUSD are two legacy codes back to back and are split 4/4 first.)
_QUOTES = ("PYUSD", "USDT", "USDC", "USD", "EUR", "GBP", "CAD", "JPY", "AUD", "CHF", "XBT", "BTC", "ETH", "DAI")
# Base names whose meaning differs between CCXT and Kraken when written with a slash.
AMBIGUOUS_SPOT_BASES = frozenset({"LUNA"})


def canonical_asset(name: str) -> str:
    """Krakenbot's name of an asset: upper case, legacy codes stripped, ``XBT`` -> ``BTC``, ``XDG`` -> ``DOGE``."""
    upper = name.strip().upper()
    upper = _LEGACY_CODES.get(upper, upper)
    return _ALIASES.get(upper, upper)


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


def _split_unseparated(text: str) -> tuple[str, str] | None:
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
