"""CPU seconds and peak memory of each process of the stack, sampled from outside with psutil
so that measuring costs the services nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil

Processes = Callable[[], dict[str, list[psutil.Process]]]


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


class ResourceMonitor:
    """Samples resident memory every ``interval`` seconds in a thread; CPU seconds are read
    from the kernel's counters at `mark` time, so nothing is lost between samples."""

    def __init__(self, processes: Processes, interval: float = 0.5) -> None:
        self.processes = processes
        self.interval = interval
        self.peak_rss: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def start(self) -> ResourceMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def reset_peaks(self) -> None:
        self.peak_rss = {}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for name, procs in self.processes().items():
            rss = 0.0
            for proc in procs:
                for p in _tree(proc) if name == "postgres" else [proc]:
                    rss += _shared_fairly(p)
            # a service's peak is its largest process: replicas are separate processes, each
            # held to the same limit; PostgreSQL is the sum of its backends
            if name != "postgres" and procs:
                rss = max(_rss(p) for p in procs)
            self.peak_rss[name] = max(self.peak_rss.get(name, 0.0), rss / 2**20)

    def cpu_seconds(self) -> dict[str, float]:
        """User plus system CPU seconds so far, per name (all its processes together)."""
        out: dict[str, float] = {}
        for name, procs in self.processes().items():
            total = 0.0
            for proc in procs:
                for p in _tree(proc) if name == "postgres" else [proc]:
                    try:
                        t = p.cpu_times()
                        total += t.user + t.system
                    except psutil.Error:
                        continue
            if name == "postgres" and procs:
                # backends that have exited are counted in the postmaster's children times
                try:
                    t = procs[0].cpu_times()
                    total += t.children_user + t.children_system
                except psutil.Error:
                    pass
            out[name] = total
        return out


def _shared_fairly(proc: psutil.Process) -> float:
    """Proportional set size (shared pages split between the processes sharing them), so
    that PostgreSQL's backends do not each count the whole of shared_buffers; RSS where the
    kernel will not say."""
    try:
        return float(proc.memory_full_info().pss)
    except (psutil.Error, AttributeError):
        return _rss(proc)


def _rss(proc: psutil.Process) -> float:
    try:
        return float(proc.memory_info().rss)
    except psutil.Error:
        return 0.0


def cpu_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}
