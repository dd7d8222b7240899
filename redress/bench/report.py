"""Figures, the targets of issue 9, and the two ways a run is shown: a table for people and a
JSON file for tools and for comparing runs."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table


@dataclass
class Figure:
    section: str
    name: str
    value: float | None
    unit: str
    #: the value divided by a measured limit of this machine, and which limit
    ratio: float | None = None
    ratio_to: str = ""
    #: the target from the issue, as text, and whether it was met (None: no target)
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "MISS"


def at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def at_most(value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def ratio(value: float | None, limit: float | None) -> float | None:
    if value is None or not limit:
        return None
    return value / limit


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
    }


def other_load(seconds: float = 1.0) -> dict[str, Any]:
    """How busy the machine is with work that is not this run, taken while no part of the run
    is up: figures from a shared machine are only as good as this says."""
    procs = list(psutil.process_iter(["pid", "name", "cmdline"]))
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            continue
    busy = psutil.cpu_percent(interval=seconds)
    users = []
    for p in procs:
        try:
            share = p.cpu_percent(None)
        except psutil.Error:
            continue
        if share >= 5 and p.pid != os.getpid():
            command = " ".join((p.info.get("cmdline") or [p.info.get("name") or "?"])[:4])
            users.append((share, command[:120]))
    users.sort(reverse=True)
    return {
        "cpu_busy_percent": busy,
        "load_average": list(os.getloadavg()),
        "busiest_processes": [f"{share:.0f}% {command}" for share, command in users[:8]],
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:,.0f} ms" if value < 10 else f"{value:,.1f} s"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


def table(figures: list[Figure], title: str) -> Table:
    out = Table(title=title, show_lines=False)
    for column in ("section", "figure", "value", "ratio to limit", "target", ""):
        out.add_column(column, overflow="fold")
    for f in figures:
        share = "-" if f.ratio is None else f"{f.ratio:,.3g} x {f.ratio_to}"
        verdict = {"PASS": "[green]PASS[/green]", "MISS": "[red]MISS[/red]"}.get(f.verdict, "")
        name = f.name if not f.note else f"{f.name} ({f.note})"
        out.add_row(f.section, name, _fmt(f.value, f.unit), share, f.target, verdict)
    return out


def print_table(figures: list[Figure], title: str, console: Console | None = None) -> None:
    # wide enough that names and notes stay on one line when the output is a file or a pipe
    wide = Console(width=max(160, console.width if console is not None else 0))
    wide.print(table(figures, title))


def write_json(path: Path, run: dict[str, Any], figures: list[Figure]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        **run,
        "figures": [{**asdict(f), "verdict": f.verdict} for f in figures],
    }
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    return path
