"""The alert rules and the Grafana dashboard refer only to metrics the services really export,
so an ops team never watches a series that cannot exist."""

import json
import re
from pathlib import Path

import yaml

import redress.metrics as metrics

DEPLOY = Path(__file__).parents[2] / "deploy"
EXPORTED = {m._name for m in vars(metrics).values() if hasattr(m, "_name") and hasattr(m, "_type")}


def series(expr: str) -> set[str]:
    names = set(re.findall(r"\b(redress_[a-z_]+)", expr))
    return {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in names}


def test_alert_rules_use_exported_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert {a["alert"] for a in alerts} >= {
        "RedressOutboxStuck",
        "RedressConsumerLagGrowing",
        "RedressDeadLetters",
        "RedressDeadlineBreaches",
    }
    for alert in alerts:
        used = series(alert["expr"])
        assert used and used <= EXPORTED, (alert["alert"], used - EXPORTED)
        assert alert["annotations"]["summary"]


def test_dashboard_panels_use_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "redress-operations.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = series(target["expr"])
            assert used and used <= EXPORTED, (panel["title"], used - EXPORTED)
