"""The README's fetch-time and disk figures for a year of Kraken data are what the estimate script computes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_fetch_time_table_is_what_the_script_computes():
    path = REPO / "scripts" / "kraken_fetch_estimate.py"
    spec = importlib.util.spec_from_file_location("kraken_fetch_estimate", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = script.estimate()
    assert rows[0][1] == "13,706" and rows[0][2] == "3 h 48 min"  # 3,379,382 trades in Q1 2023 x 365/90, 1 s each
    for row in rows:
        line = "| " + " | ".join(row) + " |"
        assert line in readme, f"README's table is stale: run scripts/kraken_fetch_estimate.py ({line})"
    assert f"a 1-minute candle costs {script.bytes_per_candle():.1f} bytes" in " ".join(readme.split())
