"""One way to build a Redress service process: a FastAPI app whose lifespan opens the pool,
applies migrations, starts the outbox relay and the FastStream subscriber, and which answers
``/healthz``, ``/readyz`` and ``/metrics``.

A service supplies only what is its own: its schema's migrations, its HTTP routes and its event
handlers. Everything else is here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from aiokafka import ConsumerRebalanceListener, ConsumerRecord
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import Consumer, KafkaMessage
from faststream.middlewares import AckPolicy
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts import dead_letter_topic
from redress import vault
from redress.auth import previous_token_keys, token_key
from redress.consumer import (
    BatchHandler,
    Clock,
    DeadLetterSink,
    Handler,
    IdempotentConsumer,
    RawMessage,
    utc_now,
)
from redress.db import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from redress.kafka import cluster_topic_configs, ensure_topics, new_producer, topics_for
from redress.logging import configure_logging, get_logger
from redress.metrics import ASSIGNED_PARTITIONS, CONSUMER_LAG, HTTP_REQUESTS
from redress.outbox import OutboxRelay
from redress.settings import RuntimeSettings
from redress.web import add_security_headers

log = get_logger(__name__)


@dataclass(frozen=True)
class Subscription:
    """Which events of one topic this service applies, and how."""

    topic: str
    handlers: dict[str, Handler]


@dataclass
class Runtime:
    """What HTTP handlers reach through ``request.app.state.runtime``."""

    service: str
    settings: RuntimeSettings
    pool: asyncpg.Pool
    clock: Clock
    relay: OutboxRelay
    broker: KafkaBroker | None = None
    started: bool = False


@dataclass
class Service:
    name: str
    migrations: Path | None = None
    router: APIRouter | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    #: applies a batch of events at once, as the subscriptions' handlers would one by one
    #: (replays, rebuilds and the live subscriber's polls; see `IdempotentConsumer.process_batch`)
    apply_batch: BatchHandler | None = None
    clock: Clock = utc_now
    #: long-running jobs of the service (a timer scheduler, say), started with it and
    #: cancelled when it stops
    background: list[Callable[[Runtime], Coroutine[Any, Any, None]]] = field(default_factory=list)

    @property
    def group(self) -> str:
        """The consumer group: one per service, shared by its replicas."""
        return self.name

    def handlers(self) -> dict[str, Handler]:
        """Every event type this service applies, whichever of its topics it comes on."""
        found: dict[str, Handler] = {}
        for sub in self.subscriptions:
            found.update(sub.handlers)
        return found

    def consumer(
        self,
        pool: asyncpg.Pool,
        *,
        group: str | None = None,
        dead_letters: DeadLetterSink | None = None,
        clock: Clock | None = None,
        attempts: int = 3,
        fold: bool = True,
    ) -> IdempotentConsumer:
        """The consumer that applies this service's events, built one way for the live
        subscriber, a rebuild, the benchmarks and the tests. ``group`` is where processed ids
        and dead letters are recorded (the service's own by default); ``fold`` applies a batch
        with the service's `apply_batch` where it has one."""
        group = group or self.group
        return IdempotentConsumer(
            service=self.name,
            group=group,
            pool=pool,
            handlers=self.handlers(),
            dead_letters=dead_letters or DeadLetterSink(self.name, group, pool),
            clock=clock or self.clock,
            attempts=attempts,
            apply_batch=self.apply_batch if fold else None,
        )

    def dead_letter_topics(self) -> list[str]:
        return [dead_letter_topic(s.topic, self.group) for s in self.subscriptions]

    def topics(self) -> list[str]:
        """Every topic this service needs: the base topics and its own dead-letter topics."""
        return topics_for({self.group: [s.topic for s in self.subscriptions]})

    def migration_sources(self) -> list[tuple[str, Path]]:
        """The runtime's tables, then the service's own."""
        sources = [("runtime", RUNTIME_MIGRATIONS)]
        if self.migrations is not None:
            sources.append((self.name, self.migrations))
        return sources

    async def migrate(self, dsn: str) -> list[str]:
        """Apply the service's migrations to its schema (what start-up does, for an init job
        that runs before any replica starts)."""
        pool = await create_pool(dsn, self.name, max_size=2)
        try:
            return await apply_migrations(pool, self.name, self.migration_sources())
        finally:
            await pool.close()

    def create_app(self, settings: RuntimeSettings | None = None) -> FastAPI:
        settings = settings or RuntimeSettings()
        configure_logging(self.name, settings.log_level)
        app = FastAPI(title=f"Redress {self.name}", lifespan=self._lifespan(settings))
        app.state.token_key = token_key(settings.data_dir)
        app.state.previous_token_keys = previous_token_keys()
        vault.configure(settings.data_dir)
        app.add_exception_handler(RequestValidationError, _validation_error)
        for unstorable in UNSTORABLE_TEXT:
            app.add_exception_handler(unstorable, _unstorable_text)
        self._add_operational_routes(app)
        self._count_requests(app)
        app.add_middleware(RefuseUnstorableText)
        add_security_headers(app)
        if self.router is not None:
            app.include_router(self.router)
        _document_validation_errors(app)
        return app

    def _lifespan(self, settings: RuntimeSettings):  # type: ignore[no-untyped-def]
        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            pool = await create_pool(settings.dsn, self.name, max_size=settings.db_pool_max)
            applied = await apply_migrations(pool, self.name, self.migration_sources())
            if applied:
                log.info("migrations applied", applied=applied)
            async with pool.acquire() as conn:
                await vault.current().check_master_key(conn)

            async def make_topics() -> object:
                return await ensure_topics(
                    settings.bootstrap_servers,
                    self.topics(),
                    partitions=settings.topic_partitions,
                    replication=settings.topic_replication,
                    configs=cluster_topic_configs(settings.topic_replication),
                )

            await make_topics()
            relay = OutboxRelay(
                service=self.name,
                pool=pool,
                dsn=settings.dsn,
                schema=self.name,
                bootstrap_servers=settings.bootstrap_servers,
                ensure_topics=make_topics,
            )
            runtime = Runtime(self.name, settings, pool, self.clock, relay)
            app.state.runtime = runtime
            relay_task = asyncio.create_task(relay.run(), name=f"{self.name}-outbox-relay")
            sink = DeadLetterSink(self.name, self.group, pool)
            broker = None
            jobs: list[asyncio.Task[None]] = []
            try:
                if self.subscriptions:
                    sink.producer = new_producer(
                        settings.bootstrap_servers, f"redress-{self.name}-dlq"
                    )
                    await sink.producer.start()
                    broker = self._broker(settings, pool, sink)
                    await broker.start()
                    runtime.broker = broker
                jobs.extend(
                    asyncio.create_task(job(runtime), name=f"{self.name}-background")
                    for job in self.background
                )
                runtime.started = True
                log.info("service started", bootstrap=settings.bootstrap_servers)
                yield
            finally:
                runtime.started = False
                for task in jobs:
                    await stop_task(task)
                if broker is not None:
                    await broker.stop()
                await stop_task(relay_task)
                if sink.producer is not None:
                    await sink.producer.stop()
                await pool.close()

        return lifespan

    def _broker(
        self, settings: RuntimeSettings, pool: asyncpg.Pool, sink: DeadLetterSink
    ) -> KafkaBroker:
        broker = KafkaBroker(
            settings.bootstrap_servers,
            client_id=f"redress-{self.name}",
            logger=None,
            allow_auto_create_topics=False,
        )
        # a poll is a batch like a replay's: a service that folds one does it live too
        consumer = self.consumer(pool, dead_letters=sink, attempts=settings.handler_attempts)

        topics = [s.topic for s in self.subscriptions]
        listener = _AssignmentGauge(self.name, topics)
        if settings.consumer_batch_max == 1:

            @broker.subscriber(
                *topics,
                group_id=self.group,
                auto_offset_reset="earliest",
                ack_policy=AckPolicy.NACK_ON_ERROR,
                listener=listener,
                fetch_max_wait_ms=settings.consumer_fetch_wait_ms,
            )
            async def on_message(message: KafkaMessage, reader: Consumer) -> None:
                raw = _raw(message.raw_message)
                try:
                    await consumer.process(raw)
                except Exception:
                    # infrastructure is down: do not commit; back off so the redelivery loop
                    # does not spin while the database is away
                    await asyncio.sleep(1.0)
                    raise
                _record_lag(self.name, reader, [raw])

            return broker

        # Each poll, as soon as it has any records (up to the batch size), goes to
        # `process_batch`: one transaction for all of it unless a message must go alone. On
        # success the consumer's positions, the end of the poll, are committed; on an exception
        # FastStream's nack seeks every partition of the poll back to its first record, so the
        # whole poll comes again and what was committed of it is then a duplicate.
        @broker.subscriber(
            *topics,
            group_id=self.group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            listener=listener,
            batch=True,
            max_records=settings.consumer_batch_max,
            batch_timeout_ms=settings.consumer_batch_wait_ms,
            fetch_max_wait_ms=settings.consumer_fetch_wait_ms,
        )
        async def on_batch(message: KafkaMessage, reader: Consumer) -> None:
            records = message.raw_message
            assert isinstance(records, tuple)
            raws = [_raw(record) for record in records]
            try:
                await consumer.process_batch(raws)
            except Exception:
                # as above: no commit, the poll comes again after a pause
                await asyncio.sleep(1.0)
                raise
            _record_lag(self.name, reader, raws)

        return broker

    def _add_operational_routes(self, app: FastAPI) -> None:
        @app.get("/healthz", tags=["operations"])
        async def healthz() -> dict[str, str]:
            """The process is alive and serving HTTP."""
            return {"status": "ok", "service": self.name}

        @app.get("/readyz", tags=["operations"])
        async def readyz(request: Request) -> JSONResponse:
            """Ready to take work: database answers, subscriber running, relay connected."""
            runtime: Runtime | None = getattr(request.app.state, "runtime", None)
            checks: dict[str, bool] = {"started": bool(runtime and runtime.started)}
            if runtime is not None:
                try:
                    await runtime.pool.fetchval("SELECT 1")
                    checks["database"] = True
                except Exception:
                    checks["database"] = False
                if self.subscriptions:
                    checks["subscriber"] = runtime.broker is not None
            ready = all(checks.values())
            return JSONResponse(
                {"ready": ready, "service": self.name, "checks": checks},
                status_code=200 if ready else 503,
            )

        @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    def _count_requests(self, app: FastAPI) -> None:
        app.add_middleware(CountRequests, service=self.name)


#: What `_validation_error` really answers, for the OpenAPI document (FastAPI would otherwise
#: describe its own default shape, which clients would then code against and never see).
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                "required": ["field", "reason"],
            },
        },
    },
    "required": ["detail", "errors"],
}


#: What PostgreSQL (and UTF-8) refuse: a NUL character in text or JSON, an unpaired surrogate.
#: JSON allows both, so a client can send them; they are bad input, never a server error.
UNSTORABLE_TEXT: tuple[type[Exception], ...] = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
    UnicodeEncodeError,
)


UNSTORABLE_REASON = "text may not contain NUL characters or unpaired surrogates"


async def _unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    log.info("request refused: unstorable text", path=request.url.path, error=type(exc).__name__)
    return unprocessable(("(request)", UNSTORABLE_REASON))


_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")
#: bodies bigger than this are not read here: the endpoint's own size limit refuses them
_CHECKED_BODY_BYTES = 2 * 1024 * 1024


def has_unstorable_text(body: bytes, content_type: str) -> bool:
    """Does a JSON or form body carry a NUL or an unpaired surrogate in any string?"""
    if b"\x00" in body:
        return True
    if content_type == "application/json":
        lowered = body.lower()
        if b"\\u0000" not in lowered and b"\\ud" not in lowered:
            return False
        try:
            data = json.loads(body)
        except ValueError:
            return False  # not JSON: the endpoint says so in its own words
        return any(_UNSTORABLE_CHARS.search(text) for text in _strings(data))
    if b"%00" in body:  # a form: percent-escapes decode as the endpoint will decode them
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
        return any("\x00" in v for pair in pairs for v in pair)
    return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


class CountRequests:
    """ASGI middleware counting answered requests by service, method, route and status
    (`HTTP_REQUESTS`). Plain ASGI rather than ``@app.middleware("http")``: it reads the status
    off the response as it passes, instead of running the app in a task of its own and copying
    the body through a stream for every request."""

    def __init__(self, app: Any, service: str) -> None:
        self.app = app
        self.service = service
        #: each (method, route, status)'s counter, found once: `labels` checks and locks on
        #: every call
        self._counters: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def send_counted(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_counted)
        if status is not None:
            # the router left the matched route in the scope; "unmatched" for a 404 of no route
            path = getattr(scope.get("route"), "path", "unmatched")
            key = (scope["method"], path, status)
            counter = self._counters.get(key)
            if counter is None:
                counter = HTTP_REQUESTS.labels(self.service, key[0], path, str(status))
                self._counters[key] = counter
            counter.inc()


class RefuseUnstorableText:
    """ASGI middleware: a JSON or form body with a NUL character or an unpaired surrogate in
    any string gets a 422 before any endpoint sees it. JSON and forms allow both, PostgreSQL
    stores neither, and since personal fields are sealed before they are stored, such text
    would otherwise be accepted here and fail later in another service's consumer, sending a
    resident's complaint to a dead-letter topic."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode()
        if content_type not in ("application/json", "application/x-www-form-urlencoded"):
            await self.app(scope, receive, send)
            return
        messages = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > _CHECKED_BODY_BYTES:
                break
        if len(body) <= _CHECKED_BODY_BYTES and has_unstorable_text(body, content_type):
            log.info("request refused: unstorable text", path=scope.get("path"))
            await unprocessable(("(request)", UNSTORABLE_REASON))(scope, receive, send)
            return
        pending = iter(messages)

        async def replay() -> Any:
            for message in pending:
                return message
            return await receive()

        await self.app(scope, replay, send)


def unprocessable(*errors: tuple[str, str]) -> JSONResponse:
    """A 422 in the one shape every endpoint uses: each field and its reason."""
    return JSONResponse(
        {"detail": "invalid request", "errors": [{"field": f, "reason": r} for f, r in errors]},
        status_code=422,
    )


def _document_validation_errors(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            found = document.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in found:
                found["HTTPValidationError"] = VALIDATION_ERROR_SCHEMA
                found.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with each field and its reason, in words a form or API client can show."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in err["loc"][_where(err["loc"]) :]) or "(body)",
            "reason": err["msg"],
        }
        for err in exc.errors()
    ]
    return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)


class _AssignmentGauge(ConsumerRebalanceListener):  # type: ignore[misc]
    """Keeps ``redress_consumer_assigned_partitions`` true after every rebalance, so an operator
    (and the fail-over test) can see which replica holds how many partitions."""

    def __init__(self, service: str, topics: list[str]) -> None:
        self.service = service
        self.topics = topics

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for topic in self.topics:
            ASSIGNED_PARTITIONS.labels(self.service, topic).set(0)
        # the lag of a partition another replica now reads is that replica's to report; a
        # stale figure here would be summed with it by the dashboards and alerts
        for tp in revoked:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.service, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        for topic in self.topics:
            held = sum(1 for tp in assigned if tp.topic == topic)
            ASSIGNED_PARTITIONS.labels(self.service, topic).set(held)
        log.info(
            "partitions assigned",
            partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
        )


def _raw(record: ConsumerRecord[bytes, bytes]) -> RawMessage:
    return RawMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
    )


def _record_lag(service: str, reader: Any, handled: Sequence[RawMessage]) -> None:
    """How far behind the partition's end this consumer is, for ops dashboards and alerts: for
    each partition, after the last message handled of it."""
    from aiokafka import TopicPartition

    last: dict[tuple[str, int], int] = {}
    for raw in handled:
        last[(raw.topic, raw.partition)] = max(raw.offset, last.get((raw.topic, raw.partition), -1))
    for (topic, partition), offset in last.items():
        end = reader.highwater(TopicPartition(topic, partition))
        if end is not None:
            CONSUMER_LAG.labels(service, topic, str(partition)).set(max(0, end - offset - 1))


async def stop_task(task: asyncio.Task[Any], every: float = 1.0) -> None:
    """Cancel ``task`` and wait for it to end, cancelling it again every ``every`` seconds until
    it does. Python 3.11 can lose a cancel that lands as an awaited call finishes (in
    ``asyncio.wait_for``, ours or a library's, such as the Kafka client's), and the task then
    runs on as if never asked to stop; a service's shutdown must not wait for ever on it."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=every)
        if not task.done():
            log.warning("task ignored a cancel; cancelling again", task=task.get_name())
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


async def poll_forever(what: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` every ``seconds`` until cancelled. A failure (the database away, say) is
    logged and the next round tries again: a background job never dies of a bad moment."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(f"{what} failed; will try again", error=repr(exc))
        await asyncio.sleep(seconds)


def _where(loc: tuple[int | str, ...]) -> int:
    """Skip the part of an error's location that says where in the request it was (the body,
    the query string, a header): clients want the field's own name."""
    return 1 if loc and loc[0] in ("body", "query", "path", "header", "cookie") else 0


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
