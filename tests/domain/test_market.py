"""ticker_of builds the very Ticker the dataclass builds, field by field, with the same checks."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krakenbot.domain import Ticker
from krakenbot.domain.market import ticker_of

_PRICE = st.one_of(st.none(), st.floats(allow_nan=False))
_TEXT = st.one_of(st.none(), st.text(max_size=8))


@given(symbol=st.text(min_size=1, max_size=12), bid=_PRICE, ask=_PRICE, last=_PRICE, mark=_PRICE, index=_PRICE,
       funding_rate=_PRICE, open_interest=_PRICE, volume_24h=_PRICE, volume_24h_usd=_PRICE, suspended=st.booleans(),
       unified_symbol=_TEXT, post_only=st.booleans())
def test_ticker_of_equals_the_dataclass_built_from_the_same_fields(**values: object) -> None:
    values["ts"] = datetime(2026, 8, 8, 14, 45, tzinfo=UTC)
    built = Ticker(**values)  # type: ignore[arg-type]
    fast = ticker_of(*(values[f.name] for f in dataclasses.fields(Ticker)))  # type: ignore[arg-type]
    assert type(fast) is Ticker
    assert fast == built
    assert repr(fast) == repr(built)


def test_ticker_of_is_frozen_like_the_dataclass() -> None:
    fast = ticker_of("PF_XBTUSD", datetime(2026, 1, 1, tzinfo=UTC), None, None, 1.0, 1.0, None, None, None, None, None,
                     False, None, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.mark = 2.0  # type: ignore[misc]


def test_ticker_of_refuses_a_time_that_is_not_utc_as_the_dataclass_does() -> None:
    for ts in (datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2)))):
        with pytest.raises(ValueError, match=re.escape("Ticker(PF_XBTUSD).ts")):
            Ticker(symbol="PF_XBTUSD", ts=ts)
        with pytest.raises(ValueError, match=re.escape("Ticker(PF_XBTUSD).ts")):
            ticker_of("PF_XBTUSD", ts, None, None, None, None, None, None, None, None, None, False, None, False)
