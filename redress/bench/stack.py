"""The embedded stack for a benchmark run: the real supervisor starting PostgreSQL, the broker,
the SMTP sink and the five services, on free loopback ports in a throwaway data directory, so
a run never collides with `redress up` or with tests running beside it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

from redress.auth import token_key
from redress.embedded.supervisor import ServiceProcess, Supervisor
from redress.settings import SERVICES, RuntimeSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BenchStack:
    replicas: int = 1
    keep: bool = False
    data_dir: Path = field(init=False)
    supervisor: Supervisor = field(init=False)
    #: where each service answers HTTP, one address per replica
    urls: dict[str, list[str]] = field(init=False, default_factory=dict)

    def start(self) -> BenchStack:
        # under the system temp folder: as root, PostgreSQL's own user must traverse it
        self.data_dir = Path(tempfile.mkdtemp(prefix="redress-bench-"))
        self.data_dir.chmod(0o755)
        ports = {name: free_port() for name in SERVICES}
        self._saved = {k: os.environ.get(k) for k in [*_port_vars(), PROXIES]}
        for name, port in ports.items():
            os.environ[f"REDRESS_{name.upper()}_PORT"] = str(port)
        # the load generator stands in for a reverse proxy in front of many residents: it says
        # who each submission is from in X-Forwarded-For, and intake's per-address limits count
        # each resident, as they would in production
        os.environ[PROXIES] = "127.0.0.1"
        settings = RuntimeSettings(
            kafka_bootstrap_servers=None,
            database_url=None,
            data_dir=self.data_dir,
            embedded_pg_port=free_port(),
            embedded_kafka_port=free_port(),
            smtp_host=None,
            smtp_port=free_port(),
            log_level="WARNING",
        )
        self.supervisor = Supervisor(settings, replicas=self.replicas, say=lambda _: None)
        self.settings = settings
        try:
            self.supervisor.start()
        except BaseException:
            self.stop()
            raise
        self.urls = {name: self.supervisor.urls(name) for name in SERVICES}
        self.token_key = token_key(self.data_dir)
        return self

    @property
    def dsn(self) -> str:
        return self.settings.dsn

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap_servers

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def service_processes(self) -> dict[str, list[psutil.Process]]:
        """Each service's running processes (more than one with replicas)."""
        out: dict[str, list[psutil.Process]] = {}
        for svc in self.supervisor.services:
            if svc.process is not None and svc.process.poll() is None:
                out.setdefault(svc.name, []).append(psutil.Process(svc.process.pid))
        return out

    def infrastructure_processes(self) -> dict[str, list[psutil.Process]]:
        """PostgreSQL (the postmaster and its backends) and the broker."""
        out: dict[str, list[psutil.Process]] = {}
        broker = self.supervisor.broker
        if broker is not None and broker.process is not None:
            out["broker"] = [psutil.Process(broker.process.pid)]
        pg = self.supervisor.postgres
        if pg is not None:
            pid_file = pg.pgdata / "postmaster.pid"
            try:
                pid = int(pid_file.read_text().split()[0])
                out["postgres"] = [psutil.Process(pid)]
            except (OSError, ValueError, psutil.Error):
                pass
        return out

    def extra_replicas(self) -> list[ServiceProcess]:
        return [svc for svc in self.supervisor.services if svc.replica > 1]

    def pause_extra_replicas(self) -> None:
        """Stop every replica but the first of each service (SIGTERM: each leaves its consumer
        group cleanly and the first takes all partitions), for the one-replica figures."""
        for svc in self.extra_replicas():
            if svc.process is not None and svc.process.poll() is None:
                svc.process.send_signal(signal.SIGTERM)
        for svc in self.extra_replicas():
            if svc.process is not None:
                try:
                    svc.process.wait(30)
                except subprocess.TimeoutExpired:
                    svc.process.kill()
                    svc.process.wait(5)

    def resume_extra_replicas(self) -> None:
        for svc in self.extra_replicas():
            if svc.process is None or svc.process.poll() is not None:
                # the supervisor's own way of starting a service process, same command and env
                self.supervisor._spawn(svc)
        self.supervisor.wait_ready()

    def stop(self) -> None:
        try:
            if hasattr(self, "supervisor"):
                self.supervisor.stop()
        finally:
            for key, value in getattr(self, "_saved", {}).items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if not self.keep and hasattr(self, "data_dir"):
                shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> BenchStack:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


PROXIES = "REDRESS_TRUSTED_PROXIES"


def _port_vars() -> list[str]:
    return [f"REDRESS_{name.upper()}_PORT" for name in SERVICES]
