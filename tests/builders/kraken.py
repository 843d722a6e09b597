"""Kraken Futures payloads as Kraken sends them (field names, nesting), for parsing and mapping tests."""

from __future__ import annotations

from typing import Any


def futures_ticker_raw(symbol: str, *, mark: float | None = 100.0, bid: float | None = None,
                       ask: float | None = None, last: float | None = None, index: float | None = None,
                       vol24h: float | None = 1000.0, volume_quote: float | None = None,
                       open_interest: float | None = 500.0, funding_rate: float | None = 0.0,
                       suspended: bool = False, post_only: bool = False,
                       last_time: str | None = "2026-01-15T11:59:30.000Z", **extra: Any) -> dict[str, Any]:
    """One element of Kraken's /derivatives/api/v3/tickers ``tickers`` list (field names as Kraken sends them).

    Prices default around ``mark``; ``volume_quote`` (USD) defaults to ``vol24h * mark``.
    ``tag`` and ``pair`` are derived from the symbol (``PF_XBTUSD`` -> perpetual, ``XBT:USD``).
    """
    prefix, _, rest = symbol.partition("_")
    pair_id = rest.split("_")[0]
    tag = "perpetual" if prefix.upper() in ("PF", "PI") else "month"
    raw: dict[str, Any] = {"tag": tag, "pair": f"{pair_id[:-3]}:{pair_id[-3:]}", "symbol": symbol,
                           "suspended": suspended, "postOnly": post_only}
    if mark is not None:
        raw["markPrice"] = mark
        raw["bid"] = bid if bid is not None else mark * 0.9995
        raw["ask"] = ask if ask is not None else mark * 1.0005
        raw["last"] = last if last is not None else mark
        raw["indexPrice"] = index if index is not None else mark
    if vol24h is not None:
        raw["vol24h"] = vol24h
        if mark is not None:
            raw["volumeQuote"] = volume_quote if volume_quote is not None else vol24h * mark
    if open_interest is not None:
        raw["openInterest"] = open_interest
    if funding_rate is not None:
        raw["fundingRate"] = funding_rate
    if last_time is not None:
        raw["lastTime"] = last_time
    raw.update(extra)
    return raw


def futures_tickers_body(*tickers: dict[str, Any], server_time: str = "2026-01-15T12:00:00.000Z") -> dict[str, Any]:
    """A whole /derivatives/api/v3/tickers body around ``tickers`` (see ``futures_ticker_raw``)."""
    return {"result": "success", "tickers": list(tickers), "serverTime": server_time}
