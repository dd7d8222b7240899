"""``redress up``: PostgreSQL, the broker and the five services as separate processes on one
machine, started in order, watched, restarted if one dies, and stopped cleanly on Ctrl-C.

Either half of the embedded stack is skipped when its environment variable points elsewhere
(``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``), so the same command runs the services against a
real cluster.

Each service may run as several replicas (``replicas=2``): separate processes in the service's
one consumer group, the first on the service's port and the others on free ports, which is how
scale-out and fail-over are shown on one machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import httpx
import psutil

from redress.auth import token_key
from redress.embedded.broker import EmbeddedBroker
from redress.embedded.postgres import EmbeddedPostgres
from redress.embedded.smtp_sink import SmtpSink
from redress.kafka import cluster_topic_configs, ensure_topics, topics_for
from redress.settings import SERVICES, RuntimeSettings, service_port


@dataclass
class ServiceProcess:
    name: str
    port: int
    module: str
    #: 1 for the first replica of a service, 2 for the second, ...
    replica: int = 1
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """``casework`` for the first replica, ``casework-2`` for the second: names in logs,
        in the listening table and of log files."""
        return self.name if self.replica == 1 else f"{self.name}-{self.replica}"


class Supervisor:
    def __init__(
        self,
        settings: RuntimeSettings,
        *,
        services: list[str] | None = None,
        replicas: int = 1,
        verbose: bool = False,
        say: Callable[[str], object] = print,
    ) -> None:
        self.settings = settings
        self.verbose = verbose
        self.say = say
        self.data_dir = settings.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.smtp: SmtpSink | None = None
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        names = services or list(SERVICES)
        self.services = [
            ServiceProcess(
                name,
                service_port(name) if replica == 1 else _free_port(settings.http_host),
                SERVICES[name][1],
                replica,
            )
            for name in names
            for replica in range(1, replicas + 1)
        ]
        self.partitions = topic_partitions(settings, replicas)
        self._stopping = threading.Event()

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._kill_leftovers()
        if self.settings.uses_embedded_postgres:
            self._say("starting PostgreSQL (embedded) ...")
            self.postgres = EmbeddedPostgres(self.data_dir, self.settings.embedded_pg_port)
            self.postgres.start()
        if self.settings.uses_embedded_kafka:
            self._say("starting Kafka-protocol broker (embedded Tansu) ...")
            self.broker = EmbeddedBroker(
                self.settings.embedded_kafka_port, self.log_dir / "broker.log"
            )
            self.broker.start()
        if self.settings.uses_embedded_smtp:
            self.smtp = SmtpSink(self.settings.smtp_port, self.data_dir / "mail")
            self.smtp.start()
        asyncio.run(
            ensure_topics(
                self.settings.bootstrap_servers,
                topics_for({}),
                partitions=self.partitions,
                replication=self.settings.topic_replication,
                configs=cluster_topic_configs(self.settings.topic_replication),
            )
        )
        for svc in self.services:
            self._spawn(svc)
        self._write_pids()
        # each process imports and migrates on start-up: more of them on a busy machine take longer
        self.wait_ready(timeout=max(60.0, 12.0 * len(self.services)))

    def _env(self, svc: ServiceProcess) -> dict[str, str]:
        env = dict(os.environ)
        env["DATABASE_URL"] = self.settings.dsn
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.settings.bootstrap_servers
        env["REDRESS_DATA_DIR"] = str(self.data_dir)
        # the dead-letter topics each service creates get the same count as the base topics
        env["REDRESS_TOPIC_PARTITIONS"] = str(self.partitions)
        env["REDRESS_TOKEN_KEY"] = token_key(self.data_dir)
        env["REDRESS_SMTP_HOST"] = self.settings.smtp_host or "127.0.0.1"
        env["REDRESS_SMTP_PORT"] = str(self.settings.smtp_port)
        env["REDRESS_MAILBOX_HOST"] = self.settings.mailbox_host
        env["REDRESS_MAILBOX_PORT"] = str(self.settings.mailbox_port)
        env[f"REDRESS_{svc.name.upper()}_PORT"] = str(svc.port)
        return env

    def _spawn(self, svc: ServiceProcess) -> None:
        if svc.log is None and not self.verbose:
            svc.log = (self.log_dir / f"{svc.label}.log").open("ab")
        out = None if self.verbose else svc.log
        svc.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                svc.module,
                "--host",
                self.settings.http_host,
                "--port",
                str(svc.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=self._env(svc),
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        svc.started_at = time.monotonic()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = {svc.label: svc for svc in self.services}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, svc in list(pending.items()):
                    if svc.process is not None and svc.process.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited with {svc.process.returncode} while starting; "
                            f"see {self.log_dir / (name + '.log')}"
                        )
                    try:
                        r = client.get(f"http://{self.settings.http_host}:{svc.port}/readyz")
                        if r.status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {timeout}s: {', '.join(pending)}")
                if pending:
                    time.sleep(0.2)

    # -- watch and stop --------------------------------------------------------------------------

    def watch(self) -> None:
        """Restart a service that dies, with a growing pause, until asked to stop."""
        while not self._stopping.wait(0.5):
            for svc in self.services:
                if svc.process is None or svc.process.poll() is None:
                    continue
                code = svc.process.returncode
                pause = min(30.0, 2.0 ** min(svc.restarts, 5))
                if time.monotonic() - svc.started_at < pause:
                    continue
                svc.restarts += 1
                self._say(f"{svc.label} exited with {code}; restarting (restart {svc.restarts})")
                self._spawn(svc)
                self._write_pids()

    def request_stop(self, *_: object) -> None:
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        for svc in self.services:
            if svc.process is not None and svc.process.poll() is None:
                svc.process.send_signal(signal.SIGTERM)
        for svc in self.services:
            if svc.process is not None:
                try:
                    svc.process.wait(15)
                except subprocess.TimeoutExpired:
                    svc.process.kill()
                    svc.process.wait(5)
            if svc.log is not None:
                svc.log.close()
                svc.log = None
        if self.broker is not None:
            self.broker.stop()
        if self.smtp is not None:
            self.smtp.stop()
        if self.postgres is not None:
            self.postgres.stop()
        (self.data_dir / "supervisor.json").unlink(missing_ok=True)

    def replicas_of(self, name: str) -> list[ServiceProcess]:
        """The processes of one service, first replica first."""
        return [svc for svc in self.services if svc.name == name]

    def urls(self, name: str) -> list[str]:
        """Where each replica of a service answers HTTP, first replica first."""
        return [f"http://{self.settings.http_host}:{s.port}" for s in self.replicas_of(name)]

    def listening(self) -> list[tuple[str, str]]:
        rows = [
            (svc.label, f"http://{self.settings.http_host}:{svc.port}") for svc in self.services
        ]
        rows.append(("postgres", self.settings.dsn))
        rows.append(("kafka", self.settings.bootstrap_servers))
        smtp = f"{self.settings.smtp_host or '127.0.0.1'}:{self.settings.smtp_port}"
        if self.smtp is not None:
            smtp += f" (sink: {self.smtp.directory})"
        rows.append(("smtp", smtp))
        mailbox = f"{self.settings.mailbox_host}:{self.settings.mailbox_port}"
        rows.append(("mailbox (incoming SMTP)", mailbox))
        return rows

    # -- leftovers from a supervisor that was killed -------------------------------------------

    def _write_pids(self) -> None:
        pids = [s.process.pid for s in self.services if s.process is not None]
        if self.broker is not None and self.broker.process is not None:
            pids.append(self.broker.process.pid)
        if self.smtp is not None and self.smtp.process is not None:
            pids.append(self.smtp.process.pid)
        (self.data_dir / "supervisor.json").write_text(json.dumps({"pids": pids}))

    def _kill_leftovers(self) -> None:
        state = self.data_dir / "supervisor.json"
        if not state.exists():
            return
        try:
            pids = json.loads(state.read_text())["pids"]
        except (ValueError, KeyError):
            pids = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                cmd = " ".join(proc.cmdline())
                if "uvicorn" in cmd or "tansu" in cmd or "smtp_sink" in cmd:
                    proc.terminate()
                    proc.wait(10)
            except (psutil.Error, psutil.TimeoutExpired):
                continue
        state.unlink(missing_ok=True)

    def _say(self, text: str) -> None:
        self.say(text)


def topic_partitions(settings: RuntimeSettings, replicas: int) -> int:
    """How many partitions the topics get. Against a real cluster, or when
    ``REDRESS_TOPIC_PARTITIONS`` is set, that setting. On the embedded single-node broker
    without it, one per replica of a service: a group of N replicas needs N partitions to share
    a topic, and each partition more costs the broker work on every fetch and produce (one
    partition against three: about half the broker's CPU per complaint, same latency)."""
    if settings.uses_embedded_kafka and "topic_partitions" not in settings.model_fields_set:
        return replicas
    return settings.topic_partitions


def _free_port(host: str) -> int:
    """A port for a second or later replica: the operator fixes only the first one's."""
    with socket.socket() as sock:
        sock.bind((host if host not in ("0.0.0.0", "") else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_until_stopped(supervisor: Supervisor) -> None:
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    try:
        supervisor.watch()
    finally:
        supervisor.stop()
