"""`redress bench --smoke` runs the whole benchmark with tiny sizes on its own embedded stack, so
that it cannot rot: every figure is made, written to JSON and shown in the table. Nothing here
checks how fast anything was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SECTIONS = {"limits", "e2e at 20/s", "e2e flat out", "replay", "event store", "resources"}
SERVICES = ("intake", "casework", "deadlines", "notifications", "reporting")


def test_the_smoke_benchmark_makes_every_figure(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDRESS_")}
    env.pop("DATABASE_URL", None)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    done = subprocess.run(
        [sys.executable, "-m", "redress.cli", "bench", "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=280,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (written,) = tmp_path.glob("*-smoke.json")
    run = json.loads(written.read_text())
    figures = {(f["section"], f["name"]): f for f in run["figures"]}
    assert SECTIONS <= {section for section, _ in figures}
    assert run["machine"]["nproc"] >= 1 and run["machine"]["cpu_model"]

    missing = [
        key for key, f in figures.items() if f["value"] is None and f["section"] != "replicas"
    ]
    assert not missing, missing
    # limits are what every pipeline figure is compared with
    for name in ("broker produce", "broker consume", "PostgreSQL COPY"):
        assert figures[("limits", name)]["value"] > 0
    for phase in ("e2e at 20/s", "e2e flat out"):
        sustained = figures[(phase, "sustained through all five services")]
        assert sustained["ratio"] is not None and "10 of 10 done" in sustained["note"]
        for what in ("case visible in casework", "acknowledgement sent", "counted in reporting"):
            for q in ("p50", "p95", "p99"):
                assert figures[(phase, f"{q} submission → {what}")]["value"] is not None
        assert figures[(phase, "staff commands through casework")]["value"] > 0
    # every target has its verdict
    assert figures[("e2e at 20/s", "p99 submission → case visible in casework")]["verdict"] in (
        "PASS",
        "MISS",
    )
    assert figures[("e2e flat out", "sustained through all five services")]["verdict"]
    for service in ("reporting", "casework", "deadlines", "notifications"):
        replayed = figures[("replay", f"rebuild {service}")]
        assert replayed["verdict"] and "dead-lettered" not in replayed["note"]
    assert figures[("event store", "ours / library")]["verdict"]
    for service in SERVICES:
        assert figures[("resources", f"{service}: peak RSS under load")]["verdict"]
        assert figures[("resources", f"{service}: CPU during the e2e load")]["value"] > 0
    replicas = [f for (section, _), f in figures.items() if section == "replicas"]
    assert len(replicas) == 2 and all(f["value"] is not None for f in replicas)
    # the table shows the same figures
    assert "sustained through all five services" in done.stdout
    assert "PASS" in done.stdout or "MISS" in done.stdout
