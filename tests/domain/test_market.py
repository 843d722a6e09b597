"""``Ticker`` built through ``fast_init`` (the fast tick builds hundreds a second) is the very frozen dataclass
value it declares, with the same checks."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krakenbot.domain import Ticker

_PRICE = st.one_of(st.none(), st.floats(allow_nan=False))
_TEXT = st.one_of(st.none(), st.text(max_size=8))


@given(symbol=st.text(min_size=1, max_size=12), bid=_PRICE, ask=_PRICE, last=_PRICE, mark=_PRICE, index=_PRICE,
       funding_rate=_PRICE, open_interest=_PRICE, volume_24h=_PRICE, volume_24h_usd=_PRICE, suspended=st.booleans(),
       unified_symbol=_TEXT, post_only=st.booleans())
def test_a_ticker_holds_every_field_it_was_given_as_the_dataclass_does(**values: object) -> None:
    values["ts"] = datetime(2026, 8, 8, 14, 45, tzinfo=UTC)
    built = Ticker(**values)  # type: ignore[arg-type]
    assert type(built) is Ticker
    assert {f.name: getattr(built, f.name) for f in dataclasses.fields(Ticker)} == values
    assert built == dataclasses.replace(built)
    fields = ", ".join(f"{f.name}={values[f.name]!r}" for f in dataclasses.fields(Ticker))
    assert repr(built) == f"Ticker({fields})"


def test_a_ticker_is_frozen() -> None:
    ticker = Ticker(symbol="PF_XBTUSD", ts=datetime(2026, 1, 1, tzinfo=UTC), last=1.0, mark=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ticker.mark = 2.0  # type: ignore[misc]


def test_a_ticker_refuses_a_time_that_is_not_utc() -> None:
    for ts in (datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2)))):
        with pytest.raises(ValueError, match=re.escape("Ticker(PF_XBTUSD).ts")):
            Ticker(symbol="PF_XBTUSD", ts=ts)
