from datetime import UTC, datetime, timedelta
from decimal import Decimal

from krakenbot.backtest.instruments import synthetic_perpetual
from krakenbot.backtest.trades import build_trades
from krakenbot.domain import Fill, OrderSide
from krakenbot.domain.vocabulary import OrderReason

T0 = datetime(2024, 1, 1, tzinfo=UTC)
XBT = synthetic_perpetual("BTC/USD", 30_000.0)


def fill(n: int, client_order_id: str, side: OrderSide, price: str) -> Fill:
    return Fill(trade_id=f"t-{n}", client_order_id=client_order_id, symbol=XBT.symbol, side=side, size=Decimal("0.1"),
                price=Decimal(price), fee_usd=Decimal(0), ts=T0 + timedelta(minutes=n))


def test_build_trades_names_each_close_by_its_order_or_as_an_unasked_fill() -> None:
    fills = [fill(1, "kb-1", OrderSide.BUY, "30000"), fill(2, "kb-2", OrderSide.SELL, "30100"),  # closed by a stop
             fill(3, "kb-3", OrderSide.BUY, "30000"), fill(4, "liquidation-1", OrderSide.SELL, "29000"),
             fill(5, "kb-5", OrderSide.SELL, "30000"), fill(6, "someone-else", OrderSide.BUY, "29900")]
    reasons = {"kb-1": OrderReason.AUCTION_OPEN, "kb-2": OrderReason.STOP, "kb-3": OrderReason.AUCTION_OPEN,
               "kb-5": OrderReason.AUCTION_OPEN}
    trades = build_trades(fills, reasons, {XBT.symbol: XBT}, [])
    assert list(trades["close_reason"]) == ["stop", "liquidation", "external"]
    assert list(trades["side"]) == ["long", "long", "short"]
    assert trades["pnl_usd"].round(6).tolist() == [10.0, -100.0, 10.0]
