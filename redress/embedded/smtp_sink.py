"""A loopback SMTP server that keeps every message it receives as a file, for the embedded stack
and its tests: mail that a real council would send goes somewhere a person (or a test) can read.

Run it as ``python -m redress.embedded.smtp_sink --port 2525 --dir ./.redress/mail``.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class MaildirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.directory / f".{name}"
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        tmp.write_bytes(content)
        tmp.rename(self.directory / name)  # readers never see half a message
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, directory: Path) -> None:
    loop = asyncio.get_running_loop()
    handler = MaildirHandler(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="redress-sink", data_size_limit=30 * 1024 * 1024),
        host=host,
        port=port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def read_mailbox(directory: Path) -> list[EmailMessage]:
    """Every message the sink has kept, oldest first."""
    if not directory.exists():
        return []
    messages = []
    for path in sorted(p for p in directory.iterdir() if p.suffix == ".eml"):
        parsed: Any = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        messages.append(parsed)
    return messages


@dataclass
class SmtpSink:
    """The sink as a child process, started and stopped by the supervisor or a test."""

    port: int
    directory: Path
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redress.embedded.smtp_sink",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ),
        )
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex((self.host, self.port)) == 0:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the SMTP sink did not listen on {self.host}:{self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def main() -> None:
    parser = argparse.ArgumentParser(description="Loopback SMTP sink that keeps mail as files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
