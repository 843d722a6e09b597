"""The interactive ``report.html``: plotly figures with plotly.js embedded inline (opens offline, no CDN).

Figures (each in a ``<div>`` with a fixed id, so the file is deterministic and tests can find them):
``equity-plot`` (equity against equal-weight buy-and-hold of the same symbols, gross of fees, and
drawdown), ``exposure-plot`` (gross exposure and margin used), ``pnl-plot`` (net PnL per symbol,
bar) and ``prices-plot`` (one close-price subplot per symbol with each trade's entry, a triangle up
for long and down for short, and exit, a circle, whose hover names the close reason; shock
detections as red stars; other events of the symbol, such as closes and trims, as grey crosses).
The strategy's warm-up (no signal can exist before ``warmup_end``) is shaded grey on the time
plots. A per-symbol table (trades, win rate, PnL, fees, funding) follows the summary table.
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

from krakenbot.backtest.metrics import DETECTION_KINDS, buy_and_hold_curve, drawdown_series

MAX_PLOT_POINTS = 5_000
PLOT_IDS = ("equity-plot", "exposure-plot", "pnl-plot", "prices-plot")
_PCT_KEYS = ("win_rate", "total_return", "buy_and_hold_return", "max_drawdown")
_WARMUP_FILL = {"fillcolor": "#888888", "opacity": 0.15, "line_width": 0, "layer": "below"}
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


def _shade_warmup(fig: go.Figure, start: str | None, warmup_end: str | None, *, rows: int | None) -> None:
    """Shade [start, warmup_end) on every row of ``fig`` (``rows`` None: a figure without subplots) and
    label it once, at the top."""
    if not start or not warmup_end or warmup_end <= start:
        return
    if rows is None:
        fig.add_vrect(x0=start, x1=warmup_end, **_WARMUP_FILL)
    for row in range(1, (rows or 0) + 1):
        fig.add_vrect(x0=start, x1=warmup_end, row=row, col=1, **_WARMUP_FILL)
    fig.add_annotation(x=warmup_end, xref="x", y=1.0, yref="paper", text="warm-up ends", showarrow=False,
                       xanchor="right", yanchor="bottom", font={"size": 11, "color": "#555555"})


def _equity_figure(equity: pd.DataFrame, initial_equity_usd: float, prices: pd.DataFrame) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05,
                        subplot_titles=("Equity (USD) against buy-and-hold", "Drawdown (%)"))
    values = equity["equity_usd"].to_numpy(dtype="float64")
    drawdown = drawdown_series(values, initial_equity_usd)
    keep = np.union1d(downsample_indices(values), downsample_indices(-drawdown))
    ts = equity["ts"].iloc[keep]
    fig.add_trace(go.Scatter(x=ts, y=values[keep], name="strategy equity", mode="lines", line={"color": "#1f77b4"}),
                  row=1, col=1)
    hold = buy_and_hold_curve(prices, initial_equity_usd)
    if len(hold):
        fig.add_trace(go.Scatter(x=hold.index, y=hold.to_numpy(), name="buy-and-hold (equal weight, gross of fees)",
                                 mode="lines", line={"color": "#7f7f7f", "dash": "dash", "width": 1}), row=1, col=1)
    fig.add_trace(go.Scatter(x=ts, y=-100 * drawdown[keep], name="drawdown", mode="lines", fill="tozeroy",
                             line={"color": "#d62728"}, showlegend=False), row=2, col=1)
    fig.update_layout(height=520, title="Equity and drawdown", legend={"orientation": "h", "y": -0.08})
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


def _trade_markers(fig: go.Figure, trades: pd.DataFrame, row: int) -> None:
    """Entries (triangle up long, down short) and exits (circle, hover: reason and net PnL) of one symbol."""
    for side, marker in (("long", {"symbol": "triangle-up", "color": "#2ca02c"}),
                         ("short", {"symbol": "triangle-down", "color": "#ff7f0e"})):
        mine = trades[trades["side"] == side]
        if mine.empty:
            continue
        fig.add_trace(go.Scatter(
            x=mine["ts_open"], y=mine["entry_price"], mode="markers", marker={**marker, "size": 10},
            name=f"{side} entry", showlegend=False, text=[f"{side} entry, {n:,.0f} USD" for n in mine["notional_usd"]],
            hovertemplate="%{x}<br>%{text} at %{y}<extra></extra>"), row=row, col=1)
        fig.add_trace(go.Scatter(
            x=mine["ts_close"], y=mine["exit_price"], mode="markers", name=f"{side} exit", showlegend=False,
            marker={"symbol": "circle-open", "color": marker["color"], "size": 9, "line": {"width": 2}},
            text=[f"{side} exit: {r}, net {p:+,.2f} USD" for r, p in zip(mine["close_reason"], mine["pnl_usd"],
                                                                          strict=True)],
            hovertemplate="%{x}<br>%{text} at %{y}<extra></extra>"), row=row, col=1)


def _prices_figure(prices: pd.DataFrame, events: pd.DataFrame, trades: pd.DataFrame, symbols: list[str],
                   futures_symbols: dict[str, str]) -> go.Figure:
    names = symbols or sorted(prices["symbol"].unique())
    titles = [f"{n} ({futures_symbols[n]})" if n in futures_symbols else n for n in names]
    fig = make_subplots(rows=max(1, len(names)), cols=1, shared_xaxes=True, vertical_spacing=0.02,
                        subplot_titles=titles or ["(no prices)"])
    kinds = events["kind"].astype(str)
    is_shock = kinds.isin(DETECTION_KINDS)
    is_other = ~is_shock
    for row, symbol in enumerate(names, start=1):
        rows = prices[prices["symbol"] == symbol]
        if rows.empty:
            continue
        close = rows["close"].to_numpy(dtype="float64")
        fig.add_trace(go.Scatter(x=rows["ts"], y=close, mode="lines", name=symbol, showlegend=False,
                                 line={"width": 1, "color": "#1f77b4"}), row=row, col=1)
        _trade_markers(fig, trades[trades["symbol"] == symbol], row)
        mine = events["symbol"].isin([symbol, ""]) | events["symbol"].isna()
        for mask, label, marker in (
            (mine & is_shock, "shock", {"symbol": "star", "color": "#d62728", "size": 10}),
            (mine & is_other, "event", {"symbol": "x", "color": "#7f7f7f", "size": 7}),
        ):
            marked = events[mask]
            if marked.empty:
                continue
            fig.add_trace(go.Scatter(
                x=marked["ts"], y=_price_at(rows["ts"], close, marked["ts"]), mode="markers", marker=marker,
                name=label, showlegend=False, text=(marked["kind"] + ": " + marked["detail"].astype(str)).tolist(),
                hovertemplate="%{x}<br>%{text}<extra>" + symbol + "</extra>"), row=row, col=1)
    fig.update_layout(height=max(300, 220 * len(names)), title="Prices (close): entries (triangles: up long, down "
                      "short), exits (circles), shock detections (red stars), other events (grey crosses)")
    return fig


def per_symbol_table(trades: pd.DataFrame, symbols: list[str]) -> pd.DataFrame:
    """One row per symbol (``symbols`` first, then any other traded): trades, win_rate (fraction, NaN with
    no trades), pnl_usd, fees_usd and funding_usd (sums; PnL net of fees and funding, funding paid > 0)."""
    names = list(dict.fromkeys([*symbols, *sorted(trades["symbol"].unique())]))
    rows = []
    for name in names:
        mine = trades[trades["symbol"] == name]
        pnl = mine["pnl_usd"].to_numpy(dtype="float64")
        rows.append({"symbol": name, "trades": len(mine), "win_rate": float((pnl > 0).mean()) if len(pnl) else np.nan,
                     "pnl_usd": float(pnl.sum()), "fees_usd": float(mine["fees_usd"].sum()),
                     "funding_usd": float(mine["funding_usd"].sum())})
    return pd.DataFrame(rows, columns=["symbol", "trades", "win_rate", "pnl_usd", "fees_usd", "funding_usd"])


def _per_symbol_html(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("symbol", "trades", "win rate", "net PnL (USD)", "fees (USD)",
                                              "funding (USD)"))
    body = []
    for r in table.to_dict("records"):
        rate = float(r["win_rate"])
        win = "n/a" if not np.isfinite(rate) else f"{100 * rate:.1f} %"
        cells = (html.escape(str(r["symbol"])), str(int(r["trades"])), win, f"{float(r['pnl_usd']):,.2f}",
                 f"{float(r['fees_usd']):,.2f}", f"{float(r['funding_usd']):,.2f}")
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<h2>Per symbol</h2>\n<table class='summary' id='per-symbol'><tr>" + head + "</tr>" + "".join(body)
            + "</table>")


def _summary_table(summary: dict[str, Any]) -> str:
    cells = []
    for key, value in summary.items():  # summary.json's own order (SUMMARY_KEYS)
        text = format_value(key, value)
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
        _equity_figure(equity, initial, prices),
        _exposure_figure(equity),
        _pnl_figure(trades, symbols),
        _prices_figure(prices, events, trades, symbols, futures_symbols),
    )
    start, warmup_end = summary.get("start"), summary.get("warmup_end")
    _shade_warmup(figures[0], start, warmup_end, rows=2)
    _shade_warmup(figures[1], start, warmup_end, rows=None)
    _shade_warmup(figures[3], start, warmup_end, rows=max(1, len(symbols)))
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
        f"<h1>{html.escape(title)}</h1>\n{_summary_table(summary)}\n"
        f"{_per_symbol_html(per_symbol_table(trades, symbols))}\n" + "\n".join(divs) + "\n</body>\n</html>\n"
    )
