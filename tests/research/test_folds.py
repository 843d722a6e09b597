"""Walk-forward folds: the layout the module doc draws, for any span, fold count, gap and mode."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.config import AppConfig
from krakenbot.research.folds import Fold, walk_forward, warmup_span

START = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_rolling_folds_on_a_round_span():
    # 10 days = L + gap + 3 O with O / (L + O) = 0.25: O = 1.5 days, L = 4.5 days
    folds = walk_forward(START, START + 10 * DAY, 3, gap=timedelta(days=1), mode="rolling", oos_fraction=0.25)
    hours = [(f.is_start - START, f.is_end - START, f.oos_start - START, f.oos_end - START) for f in folds]
    assert hours == [
        (timedelta(0), timedelta(hours=108), timedelta(hours=132), timedelta(hours=168)),
        (timedelta(hours=36), timedelta(hours=144), timedelta(hours=168), timedelta(hours=204)),
        (timedelta(hours=72), timedelta(hours=180), timedelta(hours=204), timedelta(hours=240)),
    ]
    assert [f.index for f in folds] == [0, 1, 2]


def test_anchored_folds_share_the_rolling_oos_windows_and_start_at_the_start():
    kwargs = {"gap": timedelta(hours=6), "oos_fraction": 0.3}
    rolling = walk_forward(START, START + 30 * DAY, 4, mode="rolling", **kwargs)
    anchored = walk_forward(START, START + 30 * DAY, 4, mode="anchored", **kwargs)
    windows = [(f.oos_start, f.oos_end, f.is_end) for f in anchored]
    assert windows == [(f.oos_start, f.oos_end, f.is_end) for f in rolling]
    assert all(f.is_start == START for f in anchored)
    assert anchored[0] == rolling[0]


def test_align_puts_every_boundary_on_the_grid():
    step = timedelta(minutes=15)
    folds = walk_forward(START + timedelta(minutes=7), START + 9 * DAY + timedelta(minutes=3), 3,
                         gap=timedelta(hours=57, minutes=45), mode="rolling", align=step)
    for f in folds:
        for ts in (f.is_start, f.is_end, f.oos_start, f.oos_end):
            assert (ts - START) % step == timedelta(0)
    assert folds[0].is_start == START + timedelta(minutes=15)
    assert folds[-1].oos_end == START + 9 * DAY


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"k": 0}, "k: need at least 1 fold"),
    ({"oos_fraction": 1.0}, "oos_fraction"),
    ({"gap": -DAY}, "gap: must be >= 0"),
    ({"mode": "expanding"}, "mode: expected 'anchored' or 'rolling'"),
    ({"gap": 10 * DAY}, "too short for 3 folds"),
    ({"end": START}, "too short"),
    ({"start": datetime(2024, 1, 1)}, "must be a timezone-aware UTC datetime"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, match):
    args = {"start": START, "end": START + 10 * DAY, "k": 3, "gap": DAY, "mode": "rolling"} | kwargs
    with pytest.raises(ValueError, match=match):
        walk_forward(args.pop("start"), args.pop("end"), args.pop("k"), **args)


def test_a_fold_out_of_order_is_refused():
    with pytest.raises(ValueError, match="Fold 0: needs is_start < is_end <= oos_start < oos_end"):
        Fold(index=0, is_start=START, is_end=START + DAY, oos_start=START, oos_end=START + 2 * DAY)


def test_warmup_span_is_the_strategys_warmup_bars_at_its_timeframe():
    cfg = AppConfig.model_validate({"strategy": {"timeframe": "15m"}})
    assert warmup_span(cfg) == timedelta(minutes=15 * 231)  # the default trend strategy's 231-bar warm-up


@settings(max_examples=300, deadline=None)
@given(start_s=st.integers(0, 10**9), span_s=st.integers(1, 10**8), k=st.integers(1, 12),
       gap_s=st.integers(0, 10**7), fraction=st.floats(0.01, 0.99), mode=st.sampled_from(["anchored", "rolling"]),
       align_s=st.sampled_from([None, 60, 900, 86_400]))
def test_folds_tile_the_span_in_order_with_the_gap(start_s, span_s, k, gap_s, fraction, mode, align_s):
    start = START + timedelta(seconds=start_s)
    end = start + timedelta(seconds=span_s)
    gap = timedelta(seconds=gap_s)
    align = timedelta(seconds=align_s) if align_s else None
    try:
        folds = walk_forward(start, end, k, gap=gap, mode=mode, oos_fraction=fraction, align=align)
    except ValueError as exc:
        assert "too short" in str(exc)
        return
    assert len(folds) == k
    oos_length = folds[0].oos_end - folds[0].oos_start
    is_length = folds[0].is_end - folds[0].is_start
    assert folds[-1].oos_end <= end and end - folds[-1].oos_end < (align or timedelta(microseconds=1))
    assert start <= folds[0].is_start < start + (align or timedelta(microseconds=1))
    for before, after in itertools.pairwise(folds):
        assert after.oos_start == before.oos_end  # contiguous out-of-sample record
    for f in folds:
        assert f.gap >= gap and f.gap - gap < (align or timedelta(microseconds=1))
        assert f.oos_end - f.oos_start == oos_length
        assert f.is_start >= start
        if mode == "rolling":
            assert f.is_end - f.is_start == is_length
        else:
            assert f.is_start == folds[0].is_start
    # the in-sample share of the first fold is at least what oos_fraction asks (rounding goes in-sample)
    assert oos_length / (is_length + oos_length) <= fraction + 1e-9
