"""The Grafana dashboard in ``docs/`` queries only metrics the bot exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from krakenbot.ops.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"krakenbot_[a-z_]+", target["expr"])}
    exported = set()
    for family in Metrics().registry.collect():
        exported.update(sample.name for sample in family.samples)
        exported.add(family.name)
        exported.update({f"{family.name}_total", f"{family.name}_bucket", f"{family.name}_count"})
    assert queried and queried <= exported, sorted(queried - exported)
