"""The store remembers which mode created it: paper never writes into a live store, live never uses a paper one."""

from __future__ import annotations

import pytest

from builders.exchange import intent
from krakenbot.domain import OrderSide
from krakenbot.store.sql import SqlStore, StoreModeError


def test_a_new_store_is_claimed_by_the_first_mode_and_kept(store_url: str) -> None:
    with SqlStore(store_url) as store:
        assert store.mode() is None
        store.claim_mode("live")
        store.claim_mode("live")  # the same mode again: fine
    with SqlStore(store_url) as store:
        assert store.mode() == "live"


def test_paper_on_a_live_store_is_refused_naming_the_store_and_the_fix(store_url: str) -> None:
    with SqlStore(store_url) as store:
        store.claim_mode("live")
        with pytest.raises(StoreModeError, match="created by `live`; `paper` refuses") as err:
            store.claim_mode("paper")
        assert store.url in str(err.value) and "store.paper_url" in str(err.value)
        assert store.mode() == "live"


def test_live_on_a_paper_store_is_refused(store_url: str) -> None:
    with SqlStore(store_url) as store:
        store.claim_mode("paper")
        with pytest.raises(StoreModeError, match=r"point store\.url at the live store"):
            store.claim_mode("live")


def test_paper_refuses_a_store_with_records_and_no_mode_and_live_claims_it(store_url: str) -> None:
    with SqlStore(store_url) as store:
        store.record_intent(intent("kb-1", OrderSide.BUY, "0.1", limit="30300"))  # written before modes existed
        with pytest.raises(StoreModeError, match="an earlier Krakenbot's records and no mode"):
            store.claim_mode("paper")
        assert store.mode() is None
        store.claim_mode("live")
        assert store.mode() == "live"
