"""One benchmark run, in order: start the stack, measure the machine's limits, drive the
pipeline (fixed rate, then flat out), compare event stores, replay projections, then (when the
supervisor can) the flat-out load again with two replicas per service."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from redress.bench import limits, load, peer, replay
from redress.bench.profile import Profiler
from redress.bench.report import Figure, at_least, at_most, machine, other_load, ratio
from redress.bench.resources import ResourceMonitor, cpu_between
from redress.bench.stack import BenchStack
from redress.logging import configure_logging

Say = Callable[[str], object]


@dataclass(frozen=True)
class Sizes:
    kafka_messages: int = 50_000
    pg_seconds: float = 4.0
    copy_rows: int = 200_000
    #: a rate well below what the machine holds, for the latency of one complaint's path
    #: rather than of a queue
    light_rate: float = 30.0
    light_count: int = 600
    fixed_rate: float = 100.0
    fixed_count: int = 2_000
    flat_count: int = 4_000
    #: flat out stops submitting after this long even if fewer were sent
    flat_submit_seconds: float = 30.0
    #: how long to wait, after the last submission, for the pipeline to finish
    drain_seconds: float = 60.0
    peer_seconds: float = 8.0
    replay_events: int = 1_000_000
    replay_budget_seconds: float = 20.0
    replicas_flat_count: int = 4_000


FULL = Sizes()
SMOKE = Sizes(
    kafka_messages=500,
    pg_seconds=0.3,
    copy_rows=2_000,
    light_rate=10.0,
    light_count=5,
    fixed_rate=20.0,
    fixed_count=10,
    flat_count=10,
    drain_seconds=60.0,
    peer_seconds=0.5,
    replay_events=100,
    replay_budget_seconds=5.0,
    replicas_flat_count=10,
)

TARGET_SUSTAINED = 800.0
TARGET_P99_VISIBLE = 0.5
TARGET_REPLAY = 50_000.0
TARGET_PEER_RATIO = 3.0
TARGET_RSS_MB = 150.0


@dataclass
class Run:
    """Everything measured, before it becomes figures."""

    started: datetime
    sizes: Sizes
    machine: dict[str, Any]
    broker: dict[str, float]
    postgres: dict[str, float]
    light: load.PhaseResult
    fixed: load.PhaseResult
    flat: load.PhaseResult
    cpu: dict[str, float]
    #: PostgreSQL commits during the two e2e phases (every service, the relays, the limiter)
    commits: int
    load_seconds: float
    peak_rss_mb: dict[str, float]
    ours_per_s: float
    library_per_s: float | None
    library_error: str
    replays: list[replay.ReplayResult]
    replicas_flat: load.PhaseResult | None
    replicas_note: str
    elapsed: float
    other_load_after: dict[str, Any]


async def _drive(
    stack: BenchStack, sizes: Sizes, before_flat: Callable[[], object] = lambda: None
) -> tuple[load.PhaseResult, load.PhaseResult, load.PhaseResult]:
    first = {name: urls[:1] for name, urls in stack.urls.items()}
    gen = load.LoadGenerator(first, stack.token_key, stack.dsn)
    try:
        await gen.configure_organisations()
        await asyncio.sleep(1.0)  # let deadlines and notifications learn the organisations
        light = await gen.run_phase(
            "light", sizes.light_count, sizes.light_rate, sizes.drain_seconds
        )
        fixed = await gen.run_phase(
            "fixed", sizes.fixed_count, sizes.fixed_rate, sizes.drain_seconds
        )
        before_flat()
        flat = await gen.run_phase(
            "flat", sizes.flat_count, None, sizes.drain_seconds, sizes.flat_submit_seconds
        )
    finally:
        await gen.close()
    return light, fixed, flat


async def _drive_flat(stack: BenchStack, sizes: Sizes) -> load.PhaseResult:
    gen = load.LoadGenerator(stack.urls, stack.token_key, stack.dsn, seed=10)
    try:
        await gen.configure_organisations()
        await asyncio.sleep(1.0)
        return await gen.run_phase(
            "flat-2-replicas",
            sizes.replicas_flat_count,
            None,
            sizes.drain_seconds,
            sizes.flat_submit_seconds,
        )
    finally:
        await gen.close()


async def _commits(dsn: str) -> int:
    """Transactions PostgreSQL has committed in this database so far."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        )
    finally:
        await conn.close()


def measure(
    sizes: Sizes, *, replicas: bool = True, profile: Path | None = None, say: Say = print
) -> Run:
    configure_logging("bench", "WARNING")
    started = datetime.now(UTC)
    t0 = time.monotonic()
    info = machine()
    info["other_load_before"] = other_load()
    say("starting the embedded stack ...")
    replicas_flat = None
    replicas_note = "" if replicas else "not asked for (--no-replicas)"
    with BenchStack(replicas=2 if replicas else 1) as stack:
        # the second replicas wait, stopped, until the two-replica phase at the end
        stack.pause_extra_replicas()
        monitor = ResourceMonitor(
            lambda: {
                **stack.service_processes(),
                **stack.infrastructure_processes(),
                "load generator (this process)": [psutil.Process(os.getpid())],
            }
        ).start()
        try:
            say("machine limits: broker ...")
            broker = asyncio.run(limits.broker_limits(stack.bootstrap, sizes.kafka_messages))
            say("machine limits: PostgreSQL ...")
            postgres = asyncio.run(
                limits.postgres_limits(stack.dsn, sizes.pg_seconds, copy_rows=sizes.copy_rows)
            )
            say(
                f"pipeline: {sizes.light_count} complaints at {sizes.light_rate:g}/s, "
                f"{sizes.fixed_count} at {sizes.fixed_rate:g}/s, "
                f"then {sizes.flat_count} flat out ..."
            )
            monitor.reset_peaks()
            commits_before = asyncio.run(_commits(stack.dsn))
            cpu_before = monitor.cpu_seconds()
            load_started = time.monotonic()
            profiler = None if profile is None else Profiler(profile, sizes.flat_submit_seconds)

            def start_profiling() -> None:
                if profiler is not None:
                    profiler.start(stack.service_processes())

            light, fixed, flat = asyncio.run(_drive(stack, sizes, start_profiling))
            if profiler is not None:
                say(f"profile: {profiler.finish()}")
            load_seconds = time.monotonic() - load_started
            cpu = cpu_between(cpu_before, monitor.cpu_seconds())
            commits = asyncio.run(_commits(stack.dsn)) - commits_before
            monitor.sample()
            peak = dict(monitor.peak_rss)
            say("event stores: ours, then the eventsourcing library's ...")
            ours = peer.run_ours(stack.dsn, sizes.peer_seconds)
            library: float | None = None
            library_error = ""
            try:
                library = peer.eventsourcing_library(stack.dsn, sizes.peer_seconds)
            except ImportError as exc:
                library_error = f"eventsourcing not installed: {exc}"
            except RuntimeError as exc:
                library_error = str(exc)[:300]
            replays = []
            for service in replay.REPLAYED:
                say(f"replay: {service} ...")
                replays.append(
                    asyncio.run(
                        replay.replay(
                            stack.dsn, service, sizes.replay_events, sizes.replay_budget_seconds
                        )
                    )
                )
            say("replay: reporting, one transaction per event ...")
            replays.append(
                asyncio.run(
                    replay.replay(
                        stack.dsn,
                        "reporting",
                        sizes.replay_events,
                        sizes.replay_budget_seconds,
                        batched=False,
                    )
                )
            )
            if replicas:
                say("two replicas per service: flat out again ...")
                stack.resume_extra_replicas()
                replicas_flat = asyncio.run(_drive_flat(stack, sizes))
        finally:
            monitor.stop()
    return Run(
        started=started,
        sizes=sizes,
        machine=info,
        broker=broker,
        postgres=postgres,
        light=light,
        fixed=fixed,
        flat=flat,
        cpu=cpu,
        commits=commits,
        load_seconds=load_seconds,
        peak_rss_mb=peak,
        ours_per_s=ours,
        library_per_s=library,
        library_error=library_error,
        replays=replays,
        replicas_flat=replicas_flat,
        replicas_note=replicas_note,
        elapsed=time.monotonic() - t0,
        other_load_after=other_load(),
    )


SERVICES = ("intake", "casework", "deadlines", "notifications", "reporting")


def figures(run: Run) -> list[Figure]:
    tx16 = run.postgres["tx_per_s_16_writers"]
    tx1 = run.postgres["tx_per_s_1_writer"]
    one_tx = 1.0 / tx1 if tx1 else None
    copy = run.postgres["copy_rows_per_s"]
    produce = run.broker["produce_per_s"]
    out = [
        Figure(
            "limits",
            "broker produce",
            run.broker["produce_per_s"],
            "msg/s",
            note=f"{run.broker['message_bytes']:.0f}-byte envelopes, acks=all",
        ),
        Figure("limits", "broker consume", run.broker["consume_per_s"], "msg/s"),
        Figure("limits", "PostgreSQL tx, 1 insert each, 1 writer", tx1, "tx/s"),
        Figure("limits", "PostgreSQL tx, 1 insert each, 16 writers", tx16, "tx/s"),
        Figure(
            "limits",
            "PostgreSQL batched insert (1000 rows/tx)",
            run.postgres["batched_rows_per_s"],
            "rows/s",
        ),
        Figure("limits", "PostgreSQL COPY", copy, "rows/s"),
    ]
    for phase in (run.light, run.fixed, run.flat):
        label = f"e2e at {phase.offered_rate:g}/s" if phase.offered_rate else "e2e flat out"
        sustained = phase.sustained_per_s
        out.append(
            Figure(
                label,
                "intake accepted",
                phase.accepted_per_s,
                "complaints/s",
                ratio(phase.accepted_per_s, tx16),
                "PG tx/s (16)",
                note=f"{len(phase.submissions)} submitted, {phase.rejected} refused, "
                f"{phase.duplicates} linked as duplicates"
                + (f" (refused: {_top(phase.refusals)})" if phase.refusals else "")
                + (
                    f", {phase.not_sent} not sent: intake fell behind the offered rate"
                    if phase.not_sent
                    else ""
                ),
            )
        )
        is_flat = phase.offered_rate is None
        out.append(
            Figure(
                label,
                "sustained through all five services",
                sustained,
                "complaints/s",
                ratio(sustained, tx16),
                "PG tx/s (16)",
                target=f">= {TARGET_SUSTAINED:g}/s" if is_flat else "",
                passed=at_least(sustained, TARGET_SUSTAINED) if is_flat else None,
                note=f"{phase.completed} of {len(phase.submissions)} done in "
                f"{phase.complete_seconds:.1f} s",
            )
        )
        for key, what in (
            ("case_visible", "case visible in casework"),
            ("acknowledged", "acknowledgement sent"),
            ("counted", "counted in reporting"),
        ):
            p = load.percentiles(phase.latencies.get(key, []))
            for q in ("p50", "p95", "p99"):
                target, passed = "", None
                if key == "case_visible" and q == "p99" and phase is run.fixed:
                    target = f"< {TARGET_P99_VISIBLE * 1000:g} ms"
                    passed = at_most(p[q], TARGET_P99_VISIBLE)
                out.append(
                    Figure(
                        label,
                        f"{q} submission → {what}",
                        p[q],
                        "s",
                        ratio(p[q], one_tx),
                        "one PG tx",
                        target=target,
                        passed=passed,
                        note=f"n={p['n']}" if q == "p50" else "",
                    )
                )
        staff = sum(phase.staff_commands.values())
        failed = sum(phase.staff_failures.values())
        out.append(
            Figure(
                label,
                "staff commands through casework",
                float(staff),
                "commands",
                note=f"{failed} failed" + (f": {dict(phase.staff_failures)}" if failed else ""),
            )
        )
    for r in run.replays:
        projected = 1_000_000 / r.per_s if r.per_s else None
        note = f"{r.events:,} events in {r.seconds:.1f} s"
        if r.events and r.seconds:
            # the rest of the time the replay waited, mostly on PostgreSQL
            note += (
                f", this process's CPU {1000 * r.cpu_seconds / r.events * 1000:.0f} ms per 1,000"
                f" events ({r.cpu_seconds / r.seconds:.0%} of the time)"
            )
        if r.stopped_by_budget:
            note += f" (time budget; 1,000,000 would take ~{projected:,.0f} s)"
        bad = r.outcomes.get("dead_lettered", 0)
        if bad:
            note += f", {bad} dead-lettered"
        out.append(
            Figure(
                "replay",
                f"rebuild {r.service}"
                + ("" if r.batched else ", one transaction per event (as live)"),
                r.per_s,
                "events/s",
                ratio(r.per_s, copy),
                "PG COPY rows/s",
                target=f">= {TARGET_REPLAY:,.0f}/s" if r.batched else "",
                passed=at_least(r.per_s, TARGET_REPLAY) if r.batched else None,
                note=note,
            )
        )
    out.append(
        Figure(
            "event store",
            "ours: event + outbox in one tx, 16 writers",
            run.ours_per_s,
            "appends/s",
            ratio(run.ours_per_s, tx16),
            "PG tx/s (16)",
        )
    )
    out.append(
        Figure(
            "event store",
            "eventsourcing library, 16 threads",
            run.library_per_s,
            "appends/s",
            ratio(run.library_per_s, tx16),
            "PG tx/s (16)",
            note=run.library_error,
        )
    )
    peer_ratio = ratio(run.ours_per_s, run.library_per_s)
    out.append(
        Figure(
            "event store",
            "ours / library",
            peer_ratio,
            "x",
            target=f">= {TARGET_PEER_RATIO:g}x",
            passed=at_least(peer_ratio, TARGET_PEER_RATIO),
        )
    )
    done = run.light.completed + run.fixed.completed + run.flat.completed
    per_complaint = run.commits / done if done else None
    out.append(
        Figure(
            "resources",
            "PostgreSQL transactions per complaint",
            per_complaint,
            "tx",
            note=f"{run.commits:,} commits during the e2e load, reads and staff work included",
        )
    )
    for name in (*SERVICES, "postgres", "broker", "load generator (this process)"):
        cpu = run.cpu.get(name)
        per_k = None if cpu is None or not done else cpu / done * 1000
        out.append(
            Figure(
                "resources",
                f"{name}: CPU during the e2e load",
                cpu,
                "CPU s",
                ratio(cpu, run.load_seconds),
                "load wall time",
                note="" if per_k is None else f"{per_k:.2f} CPU s per 1000 complaints",
            )
        )
        rss = run.peak_rss_mb.get(name)
        is_service = name in SERVICES
        out.append(
            Figure(
                "resources",
                f"{name}: peak RSS under load",
                rss,
                "MB",
                target=f"< {TARGET_RSS_MB:g} MB" if is_service else "",
                passed=at_most(rss, TARGET_RSS_MB) if is_service else None,
            )
        )
    one = run.flat.sustained_per_s
    if run.replicas_flat is None:
        out.append(
            Figure(
                "replicas",
                "flat out, 2 replicas per service",
                None,
                "complaints/s",
                note=f"skipped: {run.replicas_note}",
            )
        )
    else:
        two = run.replicas_flat.sustained_per_s
        out.append(
            Figure(
                "replicas",
                "flat out, 1 replica per service",
                one,
                "complaints/s",
                ratio(one, tx16),
                "PG tx/s (16)",
            )
        )
        out.append(
            Figure(
                "replicas",
                "flat out, 2 replicas per service",
                two,
                "complaints/s",
                ratio(two, one),
                "1 replica",
                note=f"{run.replicas_flat.completed} of {len(run.replicas_flat.submissions)} done",
            )
        )
    _ = produce
    return out


def summary(run: Run) -> dict[str, Any]:
    """What the JSON file keeps besides the figures."""
    return {
        "started": run.started.isoformat(),
        "elapsed_seconds": run.elapsed,
        "machine": {**run.machine, "other_load_after": run.other_load_after},
        "sizes": asdict(run.sizes),
        "limits": {"broker": run.broker, "postgres": run.postgres},
        "replicas": run.replicas_note or "measured",
    }


def results_path(directory: Path, started: datetime, smoke: bool) -> Path:
    stamp = started.strftime("%Y-%m-%dT%H%M%SZ")
    return directory / f"{stamp}{'-smoke' if smoke else ''}.json"


def _top(reasons: Counter[str], shown: int = 3) -> str:
    """The commonest reasons, with their counts, short enough for a table's note."""
    return "; ".join(f"{count} x {reason[:80]}" for reason, count in reasons.most_common(shown))
