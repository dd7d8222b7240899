"""The one ``redress`` command an operator runs."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from redress.db import Connection

app = typer.Typer(
    help="Redress: complaints handling for UK public bodies.",
    no_args_is_help=True,
    add_completion=False,
)
contracts_app = typer.Typer(help="Event contracts.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
dlq_app = typer.Typer(
    help="Dead-letter topics: inspect, fix and re-publish what consumers gave up on.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")
retention_app = typer.Typer(help="Personal data retention.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
console = Console()
T = TypeVar("T")


@app.command()
def up(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream service logs here."),
    replicas: int = typer.Option(
        1, min=1, max=8, help="Processes per service, in one consumer group (scale-out)."
    ),
) -> None:
    """Start PostgreSQL, the broker and all five services; Ctrl-C stops them all.

    Example: redress up    (then: curl localhost:8002/v1/cases)

    DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS, when set, replace the embedded PostgreSQL or
    broker. REDRESS_DATA_DIR says where PostgreSQL keeps its files.
    """
    from redress.embedded.supervisor import Supervisor, run_until_stopped
    from redress.settings import RuntimeSettings

    settings = RuntimeSettings()
    supervisor = Supervisor(settings, replicas=replicas, verbose=verbose, say=console.print)
    # Ctrl-C during start-up still stops what was started
    signal.signal(signal.SIGINT, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with console.status("starting Redress ..."):
            supervisor.start()
    except (Exception, KeyboardInterrupt) as exc:
        supervisor.stop()
        console.print(f"[red]redress up failed:[/red] {exc}")
        raise typer.Exit(1) from None
    table = Table(title="Redress is running (Ctrl-C stops everything)")
    table.add_column("part")
    table.add_column("listening on")
    for name, where in supervisor.listening():
        table.add_row(name, where)
    console.print(table)
    console.print(f"data: {supervisor.data_dir}   logs: {supervisor.log_dir}")
    run_until_stopped(supervisor)
    console.print("stopped")


def _known_service(name: str) -> str:
    from redress.settings import SERVICES

    if name not in SERVICES:
        console.print(f"[red]unknown service {name!r}[/red]: {', '.join(SERVICES)}")
        raise typer.Exit(2)
    return name


@app.command()
def serve(
    service: str = typer.Argument(
        ..., help="intake, casework, deadlines, notifications or reporting"
    ),
    host: str = typer.Option(None, help="Address to listen on (default REDRESS_HTTP_HOST)."),
    port: int = typer.Option(None, help="Port (default REDRESS_<SERVICE>_PORT or its default)."),
) -> None:
    """Run ONE service in this process, against DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS: what
    a container or a process manager runs, one replica per process.

    Example: REDRESS_HTTP_HOST=0.0.0.0 redress serve casework
    """
    import uvicorn

    from redress.settings import SERVICES, RuntimeSettings, service_port

    _known_service(service)
    settings = RuntimeSettings()
    uvicorn.run(
        SERVICES[service][1],
        host=host or settings.http_host,
        port=port or service_port(service),
        log_level="warning",
        access_log=False,
        # a container stops with SIGTERM: let the lifespan close consumers and the relay
        timeout_graceful_shutdown=20,
    )


@app.command()
def migrate(
    services: list[str] = typer.Argument(None, help="Which services (default: all five)."),
) -> None:
    """Create each service's schema and apply its migrations, as start-up would: for an init
    job that runs before the replicas, or a check after an upgrade.

    Example: DATABASE_URL=postgresql://redress:pw@db/redress redress migrate
    """
    import asyncio

    from redress.rebuild import load_service
    from redress.settings import SERVICES, RuntimeSettings

    settings = RuntimeSettings()
    chosen = [_known_service(s) for s in services] if services else list(SERVICES)
    try:
        for name in chosen:
            applied = asyncio.run(load_service(name).migrate(settings.dsn))
            console.print(f"{name}: {', '.join(applied) if applied else 'up to date'}")
    except Exception as exc:
        console.print(f"[red]migration failed:[/red] {exc}")
        raise typer.Exit(1) from None


@topics_app.command("create")
def create_topics(
    partitions: int = typer.Option(
        None, min=1, help="Partitions per topic (default REDRESS_TOPIC_PARTITIONS)."
    ),
    replication: int = typer.Option(
        None, min=1, help="Replication factor (default REDRESS_TOPIC_REPLICATION)."
    ),
) -> None:
    """Create every topic Redress uses (the event topics and each consuming service's
    dead-letter topics) that is missing, kept forever and, when replicated, with
    min.insync.replicas of 2. Existing topics are left as they are.

    Example: KAFKA_BOOTSTRAP_SERVERS=kafka-1:9092 redress topics create --partitions 12 \
    --replication 3
    """
    import asyncio

    from redress.kafka import cluster_topic_configs, describe_topics, ensure_topics
    from redress.rebuild import load_service
    from redress.settings import SERVICES, RuntimeSettings

    settings = RuntimeSettings()
    count = partitions or settings.topic_partitions
    factor = replication or settings.topic_replication
    wanted = sorted({t for name in SERVICES for t in load_service(name).topics()})

    async def run() -> tuple[list[str], dict[str, int]]:
        created = await ensure_topics(
            settings.bootstrap_servers,
            wanted,
            partitions=count,
            replication=factor,
            configs=cluster_topic_configs(factor),
        )
        return created, await describe_topics(settings.bootstrap_servers, wanted)

    try:
        created, described = asyncio.run(run())
    except Exception as exc:
        console.print(f"[red]could not create topics:[/red] {exc}")
        raise typer.Exit(1) from None
    table = Table(title=f"topics on {settings.bootstrap_servers}")
    for column in ("topic", "partitions", "created now"):
        table.add_column(column)
    for topic in wanted:
        table.add_row(topic, str(described.get(topic, "?")), "yes" if topic in created else "")
    console.print(table)


@dlq_app.command("list")
def dlq_list() -> None:
    """Every dead-letter topic (<topic>.dlq.<service>) and how many messages it holds.

    Example: redress dlq list
    """
    import asyncio

    from redress.deadletters import dead_letter_counts
    from redress.settings import RuntimeSettings

    settings = RuntimeSettings()
    try:
        counts = asyncio.run(dead_letter_counts(settings.bootstrap_servers))
    except Exception as exc:
        console.print(f"[red]could not list dead-letter topics:[/red] {exc}")
        raise typer.Exit(1) from None
    table = Table(title=f"dead-letter topics on {settings.bootstrap_servers}")
    table.add_column("topic")
    table.add_column("messages", justify="right")
    for topic, count in counts.items():
        table.add_row(topic, str(count))
    console.print(table)


@dlq_app.command("show")
def dlq_show(
    topic: str = typer.Argument(
        ..., help="A dead-letter topic, e.g. redress.case.v1.dlq.reporting"
    ),
    limit: int = typer.Option(50, min=1, help="Show at most this many."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, whole values."),
) -> None:
    """The messages on a dead-letter topic with the cause each consumer recorded, and where
    each came from. PARTITION:OFFSET picks one for `redress dlq replay`.

    Example: redress dlq show redress.case.v1.dlq.reporting --json > letters.jsonl
    """
    import asyncio
    import json

    from redress.deadletters import read_dead_letters
    from redress.settings import RuntimeSettings

    settings = RuntimeSettings()
    try:
        letters = asyncio.run(read_dead_letters(settings.bootstrap_servers, topic, limit=limit))
    except Exception as exc:
        console.print(f"[red]could not read {topic}:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        for letter in letters:
            print(json.dumps(letter.as_json()))
        return
    table = Table(title=f"{topic}: {len(letters)} shown")
    for column in ("at", "from", "event", "cause", "value"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        event = letter.event()
        table.add_row(
            letter.where,
            letter.source,
            " ".join(event.get(k, "") for k in ("event_type", "event_id")).strip() or "-",
            letter.error,
            letter.value[:120].decode("utf-8", "replace"),
        )
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    topic: str = typer.Argument(..., help="The dead-letter topic to take messages from."),
    at: list[str] = typer.Option(
        None, "--at", help="PARTITION:OFFSET of a message to replay (repeatable)."
    ),
    every: bool = typer.Option(False, "--all", help="Replay every message on the topic."),
    value_file: Path = typer.Option(
        None,
        "--value-file",
        help="Publish this file's bytes instead (a fixed message); only with one --at.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go where; send nothing."),
) -> None:
    """Publish chosen messages back onto the topic they came from, keyed as before, so the
    consumer that gave up tries again (consumers that applied it already skip it).

    Example: redress dlq replay redress.case.v1.dlq.reporting --at 0:3 --value-file fixed.json
    """
    import asyncio

    from redress.deadletters import read_dead_letters, replay
    from redress.settings import RuntimeSettings

    if bool(at) == every:
        console.print("[red]choose messages with --at PARTITION:OFFSET, or --all[/red]")
        raise typer.Exit(2)
    if value_file is not None and (every or len(at) != 1):
        console.print("[red]--value-file replaces exactly one message: give one --at[/red]")
        raise typer.Exit(2)
    settings = RuntimeSettings()
    try:
        letters = asyncio.run(read_dead_letters(settings.bootstrap_servers, topic))
    except Exception as exc:
        console.print(f"[red]could not read {topic}:[/red] {exc}")
        raise typer.Exit(1) from None
    if not every:
        by_place = {letter.where: letter for letter in letters}
        missing = [a for a in at if a not in by_place]
        if missing:
            console.print(f"[red]not on {topic}:[/red] {', '.join(missing)}")
            raise typer.Exit(1)
        letters = [by_place[a] for a in at]
    fixed = value_file.read_bytes() if value_file is not None else None
    if dry_run:
        for letter in letters:
            console.print(f"would replay {letter.where} to {letter.source_topic}")
        return
    try:
        sent = asyncio.run(replay(settings.bootstrap_servers, letters, value=fixed))
    except Exception as exc:
        console.print(f"[red]replay failed:[/red] {exc}")
        raise typer.Exit(1) from None
    for letter, target in sent:
        console.print(f"replayed {letter.where} to {target}{' (fixed)' if fixed else ''}")


@app.command()
def token(
    role: str = typer.Option(..., help="officer, manager, service_responder, auditor or admin"),
    user: str = typer.Option(..., help="Who the token is for; recorded on every action."),
    service: str = typer.Option(None, help="A service responder's service area."),
    hours: float = typer.Option(8.0, help="How long the token lasts."),
) -> None:
    """Print a bearer token for the staff APIs.

    Example: curl -H "Authorization: Bearer $(redress token --role officer --user olivia)" \
    localhost:8002/v1/cases
    """
    from datetime import timedelta

    from contracts import Role
    from redress.auth import mint, token_key

    try:
        chosen = Role(role)
    except ValueError:
        console.print(f"[red]unknown role {role!r}[/red]: {', '.join(r.value for r in Role)}")
        raise typer.Exit(2) from None
    try:
        value = mint(
            token_key(),
            user=user,
            role=chosen,
            service_area=service,
            lifetime=timedelta(hours=hours),
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    print(value)


@app.command()
def rebuild(
    service: str = typer.Argument(..., help="reporting, notifications, deadlines or casework"),
) -> None:
    """Replay a service's read models from the log into a shadow schema and report any
    difference from the live ones. Exits 1 if they differ.

    Example: redress rebuild reporting
    """
    import asyncio

    from redress.logging import configure_logging
    from redress.rebuild import load_service
    from redress.rebuild import rebuild as run_rebuild
    from redress.settings import SERVICES, RuntimeSettings

    if service not in SERVICES or service == "intake":
        console.print(f"[red]no read models to rebuild in {service!r}[/red]")
        raise typer.Exit(2)
    # loading the service sets its live logging up; a rebuild's line per replayed event (a
    # million for a million events) would bury the report, so only warnings and errors show
    load_service(service)
    configure_logging(service, "WARNING")
    with console.status(f"replaying the log into {service}_rebuild ..."):
        report = asyncio.run(run_rebuild(service, RuntimeSettings()))
    table = Table(title=f"{service}: {report.messages} messages replayed")
    for column in ("table", "live rows", "rebuilt rows", "only live", "only rebuilt"):
        table.add_column(column)
    for t in report.tables:
        table.add_row(
            t.table, str(t.live_rows), str(t.rebuilt_rows), str(t.only_live), str(t.only_rebuilt)
        )
    console.print(table)
    if not report.identical:
        console.print("[red]the rebuilt read models differ from the live ones[/red]")
        raise typer.Exit(1)
    console.print("rebuilt read models equal the live ones")


@app.command()
def demo(
    cases: int = typer.Option(200, min=1, max=100_000, help="How many submissions to make."),
    organisation: str = typer.Option("default", help="The organisation they are for."),
    seed: int = typer.Option(1, help="Same seed, same demo data."),
) -> None:
    """Load demo data into a running system through its public and staff APIs: complaints,
    compliments and comments, most complaints answered, some escalated, some with redress.

    Example: redress up   (in one terminal), then: redress demo --cases 2000
    """
    import asyncio

    from rich.progress import Progress

    from redress.auth import token_key
    from redress.demo import load
    from redress.settings import RuntimeSettings, service_port

    settings = RuntimeSettings()

    def base(service: str) -> str:
        return f"http://{settings.http_host}:{service_port(service)}"

    with Progress(console=console) as progress:
        task = progress.add_task("loading demo complaints", total=cases)
        try:
            counts = asyncio.run(
                load(
                    base,
                    token_key(settings.data_dir),
                    cases,
                    organisation,
                    seed,
                    progress=lambda: progress.advance(task),
                )
            )
        except Exception as exc:
            console.print(f"[red]demo failed:[/red] {exc!r} (is `redress up` running?)")
            raise typer.Exit(1) from None
    console.print(
        f"submitted {counts['submitted']}, answered {counts['answered']} responses, "
        f"escalated {counts['escalated']}"
    )


#: erasure, retention and subject access act through casework's schema: its event store and
#: outbox carry `PersonErased`, its tables know which cases closed when
_PRIVACY_SCHEMA = "casework"


def _with_casework(work: Callable[[Connection, datetime], Awaitable[T]]) -> T:
    """Run ``work(conn, now)`` on a connection to casework's schema, with this process's vault
    made from the data dir's (or the environment's) master key."""
    import asyncio
    from datetime import UTC

    from redress import vault
    from redress.db import create_pool
    from redress.settings import RuntimeSettings

    settings = RuntimeSettings()
    vault.configure(settings.data_dir)

    async def run() -> T:
        pool = await create_pool(settings.dsn, _PRIVACY_SCHEMA, max_size=2)
        try:
            async with pool.acquire() as conn:
                if not await conn.fetchval("SELECT to_regclass('cases') IS NOT NULL"):
                    raise RuntimeError("casework has never started against this database")
                return await work(conn, datetime.now(UTC))
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except Exception as exc:
        console.print(f"[red]failed:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command()
def erase(
    person: str = typer.Option(..., "--person", help="Person id, email address or phone number."),
) -> None:
    """Erase a person: destroy their key, so every copy of their personal data in every event
    store, outbox and topic becomes unreadable, and emit PersonErased so every service scrubs
    its own tables. Reports keep their counts and dates. Exits 1 if nobody is known by that.

    Example: redress erase --person ada@example.org
    """
    from contracts import ErasureReason
    from redress.privacy import erase_person

    async def work(conn: Connection, now: datetime) -> Any:
        return await erase_person(
            conn,
            person,
            reason=ErasureReason.REQUEST,
            actor="cli:erase",
            now=now,
            service=_PRIVACY_SCHEMA,
        )

    done = _with_casework(work)
    if done is None:
        console.print("[red]no person is known by that id, email or phone[/red]")
        raise typer.Exit(1)
    what = "erased" if done.erased_now else "was already erased"
    console.print(f"person {done.person_id} {what}: {len(done.case_ids)} case(s)")


@app.command()
def sar(
    person: str = typer.Option(..., "--person", help="Person id, email address or phone number."),
    out: Path = typer.Option(None, help="Write the JSON here (default: print it)."),
) -> None:
    """Subject access: everything held about a person, decrypted, as one JSON document (their
    submissions, each case's timeline, deadlines and letters sent).

    Example: redress sar --person ada@example.org --out ada.json
    """
    import json

    from redress.privacy import subject_access

    async def work(conn: Connection, now: datetime) -> Any:
        return await subject_access(conn, person, now=now)

    found = _with_casework(work)
    if found is None:
        console.print("[red]no person is known by that id, email or phone[/red]")
        raise typer.Exit(1)
    text = json.dumps(found, indent=2, ensure_ascii=False, default=str)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, "utf-8")
        console.print(f"wrote {out}")


@retention_app.command("run")
def retention_run(
    as_of: str = typer.Option(None, help="Run as if it were this UTC time (ISO 8601)."),
) -> None:
    """Erase everyone all of whose cases closed longer ago than their organisation's retention
    period (REDRESS_RETENTION_YEARS, default 6, where not configured). Casework also runs this
    every REDRESS_RETENTION_POLL_SECONDS.

    Example: redress retention run
    """
    import importlib
    from datetime import UTC

    retention = importlib.import_module("services.casework.privacy")

    async def work(conn: Connection, now: datetime) -> Any:
        when = now if as_of is None else datetime.fromisoformat(as_of)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return await retention.run_retention(conn, when, service=_PRIVACY_SCHEMA)

    erased = _with_casework(work)
    console.print(f"{len(erased)} person(s) past retention erased")
    for person_id in erased:
        console.print(f"  {person_id}")


@app.command()
def bench(
    smoke: bool = typer.Option(False, "--smoke", help="Tiny sizes: checks every figure is made."),
    out: Path = typer.Option(Path("bench/results"), help="Folder for the JSON results."),
    replicas: bool = typer.Option(
        True, "--replicas/--no-replicas", help="Also run flat out with 2 replicas per service."
    ),
    profile: Path = typer.Option(
        None, help="Folder for py-spy profiles of every service during the flat-out load."
    ),
) -> None:
    """Measure this machine's limits and the whole pipeline on a fresh embedded stack (free
    ports, a temporary data folder): broker and PostgreSQL limits, complaints end to end at a
    fixed rate and flat out with latency percentiles, projection replay, our event store
    against the eventsourcing library's, CPU and memory per service. Prints a table with each
    figure's ratio to the limits and PASS/MISS against the targets, and writes
    <out>/<date>.json. Takes about 12 minutes (--smoke: under a minute).

    Example: redress bench --out bench/results
    """
    from redress.bench.report import print_table, write_json
    from redress.bench.runner import FULL, SMOKE, figures, measure, results_path, summary

    sizes = SMOKE if smoke else FULL
    try:
        with console.status("benchmarking ...") as status:
            run = measure(
                sizes, replicas=replicas, profile=profile, say=lambda text: status.update(text)
            )
    except Exception as exc:
        console.print(f"[red]bench failed:[/red] {exc!r}")
        raise typer.Exit(1) from None
    made = figures(run)
    title = f"Redress bench{' (smoke sizes)' if smoke else ''}: {run.machine['nproc']} CPUs, "
    title += f"{run.machine['memory_gib']} GiB, {run.machine['cpu_model']}"
    print_table(made, title, console)
    path = write_json(results_path(out, run.started, smoke), summary(run), made)
    before, after = run.machine["other_load_before"], run.other_load_after
    console.print(
        f"other work on this machine: {before['cpu_busy_percent']:.0f}% CPU busy before the run, "
        f"{after['cpu_busy_percent']:.0f}% after (load average {after['load_average'][0]:.1f})"
    )
    missed = [f.name for f in made if f.passed is False]
    if profile is not None:
        console.print(f"profiles: {profile}/summary.md")
    console.print(f"results: {path}   ({run.elapsed:.0f} s; {len(missed)} targets missed)")


@contracts_app.command("export")
def export_contracts(
    out: Path = typer.Option(None, help="Folder to write to (default contracts/schemas)."),
) -> None:
    """Write the JSON Schemas of the envelope and every event.

    Example: redress contracts export --out /tmp/schemas
    """
    from contracts.export import SCHEMA_DIR, export

    written = export(out or SCHEMA_DIR)
    for path in written:
        console.print(str(path))


if __name__ == "__main__":
    app()
