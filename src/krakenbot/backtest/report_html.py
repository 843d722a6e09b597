"""The interactive ``report.html``: plotly figures with plotly.js embedded inline (opens offline, no CDN).

Figures (each in a ``<div>`` with a fixed id, so the file is deterministic and tests can find them):
``equity-plot`` (equity and drawdown), ``exposure-plot`` (gross exposure and margin used),
``pnl-plot`` (net PnL per symbol, bar) and ``prices-plot`` (one close-price subplot per symbol with
shock events marked; other events of the symbol, such as closes and trims, marked in grey).
Long series are thinned for the plot only (min/max per bucket keeps crashes and peaks visible).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from krakenbot.backtest.metrics import drawdown_series

MAX_PLOT_POINTS = 5_000
PLOT_IDS = ("equity-plot", "exposure-plot", "pnl-plot", "prices-plot")
_PCT_KEYS = ("win_rate", "total_return", "max_drawdown")
_USD_KEYS = ("fees", "funding", "initial_equity_usd", "final_equity_usd", "net_pnl_usd", "max_exposure_usd")


def format_value(key: str, value: Any) -> str:
    """A summary value for people: fractions as percentages, money as USD, mappings as 'a -> b'."""
    if value is None:
        return "n/a"
    if key in _PCT_KEYS and isinstance(value, float):
        return f"{100 * value:.2f} %"
    if key in _USD_KEYS and isinstance(value, int | float):
        return f"{value:,.2f} USD"
    if isinstance(value, float):
        return f"{value:.3f}" if np.isfinite(value) else str(value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k} -> {v}" for k, v in value.items()) or "-"
    return str(value)


def _to_spot(frame: pd.DataFrame, futures_symbols: dict[str, str]) -> pd.DataFrame:
    """``frame`` with futures contracts in ``symbol`` replaced by their spot pairs (one line per market)."""
    spot_of = {contract: spot for spot, contract in futures_symbols.items()}
    if frame.empty or not spot_of:
        return frame
    return frame.assign(symbol=frame["symbol"].map(lambda s: spot_of.get(s, s)))


def downsample_indices(values: np.ndarray, max_points: int = MAX_PLOT_POINTS) -> np.ndarray:
    """Sorted row indices keeping at most ``max_points`` rows: first, last, and each bucket's min and max."""
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, (max_points - 2) // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts = edges[:-1]
    filled = np.nan_to_num(np.asarray(values, dtype="float64"), nan=np.nanmean(values))
    lows = np.minimum.reduceat(filled, starts)
    highs = np.maximum.reduceat(filled, starts)
    keep = [0, n - 1]
    for start, stop, low, high in zip(starts, edges[1:], lows, highs, strict=True):
        segment = filled[start:stop]
        keep.append(int(start + np.flatnonzero(segment == low)[0]))
        keep.append(int(start + np.flatnonzero(segment == high)[0]))
    return np.unique(np.asarray(keep, dtype=np.int64))


def _equity_figure(equity: pd.DataFrame, initial_equity_usd: float) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05,
                        subplot_titles=("Equity (USD)", "Drawdown (%)"))
    values = equity["equity_usd"].to_numpy(dtype="float64")
    drawdown = drawdown_series(values, initial_equity_usd)
    keep = np.union1d(downsample_indices(values), downsample_indices(-drawdown))
    ts = equity["ts"].iloc[keep]
    fig.add_trace(go.Scatter(x=ts, y=values[keep], name="equity", mode="lines", line={"color": "#1f77b4"}),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=ts, y=-100 * drawdown[keep], name="drawdown", mode="lines", fill="tozeroy",
                             line={"color": "#d62728"}), row=2, col=1)
    fig.update_layout(height=520, title="Equity and drawdown", showlegend=False)
    return fig


def _exposure_figure(equity: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for column, name in (("exposure_usd", "gross exposure"), ("margin_used_usd", "margin used")):
        values = equity[column].to_numpy(dtype="float64")
        keep = downsample_indices(values)
        fig.add_trace(go.Scatter(x=equity["ts"].iloc[keep], y=values[keep], name=name, mode="lines"))
    fig.update_layout(height=360, title="Exposure over time (USD)", yaxis_title="USD")
    return fig


def _pnl_figure(trades: pd.DataFrame, symbols: list[str]) -> go.Figure:
    by_symbol = trades.groupby("symbol")["pnl_usd"].sum() if not trades.empty else pd.Series(dtype="float64")
    names = list(dict.fromkeys([*symbols, *sorted(by_symbol.index)]))
    pnl = [float(by_symbol.get(name, 0.0)) for name in names]
    counts = trades["symbol"].value_counts() if not trades.empty else pd.Series(dtype="int64")
    colors = ["#2ca02c" if v >= 0 else "#d62728" for v in pnl]
    fig = go.Figure(go.Bar(x=names, y=pnl, textposition="outside", cliponaxis=False, marker_color=colors,
                           text=[f"{int(counts.get(n, 0))} trades" for n in names], hovertemplate="%{x}: "
                           "%{y:,.2f} USD (%{text})<extra></extra>"))
    fig.update_layout(height=360, title="Net PnL per symbol (USD, after fees and funding)", yaxis_title="USD")
    return fig


def _price_at(ts: pd.Series, close: np.ndarray, when: pd.Series) -> np.ndarray:
    """Close of the last price row at or before each ``when`` (the first row's close before it)."""
    rows = np.searchsorted(ts.to_numpy(), when.to_numpy(), side="right") - 1
    return np.asarray(close[np.clip(rows, 0, len(close) - 1)])


def _prices_figure(prices: pd.DataFrame, events: pd.DataFrame, symbols: list[str],
                   futures_symbols: dict[str, str]) -> go.Figure:
    names = symbols or sorted(prices["symbol"].unique())
    titles = [f"{n} ({futures_symbols[n]})" if n in futures_symbols else n for n in names]
    fig = make_subplots(rows=max(1, len(names)), cols=1, shared_xaxes=True, vertical_spacing=0.02,
                        subplot_titles=titles or ["(no prices)"])
    is_shock = events["kind"].astype(str).str.contains("shock", case=False)
    for row, symbol in enumerate(names, start=1):
        rows = prices[prices["symbol"] == symbol]
        if rows.empty:
            continue
        close = rows["close"].to_numpy(dtype="float64")
        fig.add_trace(go.Scatter(x=rows["ts"], y=close, mode="lines", name=symbol, line={"width": 1},
                                 showlegend=False), row=row, col=1)
        mine = events["symbol"].isin([symbol, ""]) | events["symbol"].isna()
        for mask, label, marker in (
            (mine & is_shock, "shock", {"symbol": "triangle-down", "color": "#d62728", "size": 10}),
            ((events["symbol"] == symbol) & ~is_shock, "event", {"symbol": "x", "color": "#7f7f7f", "size": 7}),
        ):
            marked = events[mask]
            if marked.empty:
                continue
            fig.add_trace(go.Scatter(
                x=marked["ts"], y=_price_at(rows["ts"], close, marked["ts"]), mode="markers", marker=marker,
                name=label, showlegend=False, text=(marked["kind"] + ": " + marked["detail"].astype(str)).tolist(),
                hovertemplate="%{x}<br>%{text}<extra>" + symbol + "</extra>"), row=row, col=1)
    fig.update_layout(height=max(300, 220 * len(names)), title="Prices (close) with shock events (red) and "
                      "closes/trims/pauses (grey)")
    return fig


def _summary_table(summary: dict[str, Any]) -> str:
    cells = []
    for key in sorted(summary):
        text = format_value(key, summary[key])
        cells.append(f"<tr><th>{html.escape(key)}</th><td>{html.escape(text)}</td></tr>")
    return "<table class='summary'>" + "".join(cells) + "</table>"


def render_html(summary: dict[str, Any], trades: pd.DataFrame, equity: pd.DataFrame, events: pd.DataFrame,
                prices: pd.DataFrame) -> str:
    """The whole report page as a string (self-contained: plotly.js inline)."""
    symbols = list(summary.get("symbols", []))
    futures_symbols = dict(summary.get("futures_symbols") or {})
    trades, events = _to_spot(trades, futures_symbols), _to_spot(events, futures_symbols)
    initial = float(summary.get("initial_equity_usd") or (equity["equity_usd"].iloc[0] if len(equity) else 1.0))
    figures = (
        _equity_figure(equity, initial),
        _exposure_figure(equity),
        _pnl_figure(trades, symbols),
        _prices_figure(prices, events, symbols, futures_symbols),
    )
    divs = [fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                        config={"responsive": True, "displaylogo": False})
            for fig, div_id in zip(figures, PLOT_IDS, strict=True)]
    title = f"Krakenbot backtest {summary.get('start', '')} .. {summary.get('end', '')}"
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
        "table.summary{border-collapse:collapse;font-size:14px}"
        "table.summary th,table.summary td{border:1px solid #ccc;padding:3px 10px;text-align:left}"
        "table.summary th{background:#f4f4f4;font-weight:600}</style>\n"
        f"<script type='text/javascript'>{get_plotlyjs()}</script>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{_summary_table(summary)}\n" + "\n".join(divs) + "\n</body>\n</html>\n"
    )
