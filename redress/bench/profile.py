"""Where the time goes: py-spy samples every service process while the flat-out load runs, and
the samples are summed up by what the sampled code belongs to (PostgreSQL driver, broker client,
validation, logging, web framework, our own code, ...) and by function.

py-spy reads the processes from outside (no change to them, `--nonblocking`); only samples of
threads that are running count, so the shares are of CPU time, not of waiting.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil

#: what a frame's file says about whose code it is, first match wins
KINDS = [
    ("PostgreSQL driver (asyncpg)", ("asyncpg",)),
    ("broker client (aiokafka, faststream)", ("aiokafka", "faststream", "kafka")),
    ("validation and JSON (pydantic, json)", ("pydantic", "json", "email_validator")),
    ("logging (structlog, logging)", ("structlog", "logging")),
    ("web (uvicorn, starlette, fastapi, h11)", ("uvicorn", "starlette", "fastapi", "h11", "anyio")),
    ("letters (jinja2, fpdf)", ("jinja2", "fpdf", "markupsafe")),
    ("mail (aiosmtplib, email)", ("aiosmtplib", "/email/")),
    ("metrics (prometheus_client)", ("prometheus_client",)),
    ("asyncio event loop", ("asyncio", "selectors", "uvloop")),
    ("our code: redress/", ("redress/",)),
    ("our code: services/", ("services/",)),
    ("our code: contracts/", ("contracts/",)),
]
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, out: Path, seconds: float, rate: int = 50) -> None:
        self.out = out
        self.seconds = seconds
        self.rate = rate
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, processes: dict[str, list[psutil.Process]]) -> None:
        tool = py_spy()
        if tool is None:
            raise RuntimeError("py-spy is not installed: pip install py-spy")
        self.out.mkdir(parents=True, exist_ok=True)
        for name, procs in processes.items():
            for i, proc in enumerate(procs, start=1):
                label = name if i == 1 else f"{name}-{i}"
                command = [
                    tool,
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--duration",
                    str(max(1, int(self.seconds))),
                    "--rate",
                    str(self.rate),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(self.out / f"{label}.txt"),
                ]
                log = (self.out / f"{label}.log").open("wb")
                self.running.append(
                    (label, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
                )

    def finish(self) -> Path:
        for _, proc in self.running:
            try:
                proc.wait(self.seconds + 60)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(10)
        summary = self.out / "summary.md"
        summary.write_text(summarise(sorted(self.out.glob("*.txt"))))
        return summary


def _stacks(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for raw in stack.split(";"):
            m = _FRAME.match(raw)
            frames.append((m["function"], m["file"]) if m else (raw, ""))
        out.append((frames, int(count)))
    return out


WAITING = "waiting (epoll, thread locks): not CPU"
_WAITS = {"select", "poll", "wait", "sleep", "acquire", "_wait_for_tstate_lock"}


def kind_of(file: str, function: str = "") -> str:
    if function.rsplit(".", 1)[-1] in _WAITS and any(
        mark in file for mark in ("selectors", "threading")
    ):
        return WAITING
    for kind, marks in KINDS:
        if any(mark in file for mark in marks):
            return kind
    return "other (Python, libraries)"


def summarise(paths: list[Path], top: int = 8) -> str:
    """A Markdown summary per process: CPU by kind of code (the leaf frame), then our own
    functions by the share of samples they are on the stack for (inclusive)."""
    parts = []
    for path in paths:
        stacks = _stacks(path)
        total = sum(n for _, n in stacks)
        if not total:
            continue
        kinds: Counter[str] = Counter()
        ours: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        for frames, n in stacks:
            function, file = frames[-1]
            kinds[kind_of(file, function)] += n
            leaves[f"{function} ({_short(file)})"] += n
            seen = set()
            for function, file in frames:
                if any(m in file for m in ("redress/", "services/", "contracts/")):
                    key = f"{function} ({_short(file)})"
                    if key not in seen:
                        seen.add(key)
                        ours[key] += n
        busy = total - kinds[WAITING]
        parts.append(
            f"### {path.stem} ({total} samples, {busy / total:.0%} of them running code)\n"
        )
        parts.append("| where the CPU went (leaf frame) | share |\n|---|---|")
        parts.extend(f"| {k} | {n / total:.0%} |" for k, n in kinds.most_common())
        parts.append("\n| our function (on the stack) | share |\n|---|---|")
        parts.extend(f"| `{k}` | {n / total:.0%} |" for k, n in ours.most_common(top))
        parts.append("\n| hottest leaf functions | share |\n|---|---|")
        parts.extend(f"| `{k}` | {n / total:.0%} |" for k, n in leaves.most_common(top))
        parts.append("")
    return "\n".join(parts) + "\n"


def _short(file: str) -> str:
    for mark in ("site-packages/", "lib/python3.11/", "/work/"):
        if mark in file:
            return file.split(mark, 1)[1]
    return file
