"""A private PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` from Debian's
``postgresql`` package (``scripts/install``), run as an unprivileged user in a temporary
directory, listening on a free loopback port, stopped at the end of the session.

:class:`PostgresServer` starts one; :meth:`PostgresServer.new_database` gives each test a
database of its own.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PostgresServer", "postgres_binary"]

SUPERUSER = "ekarta"
# initdb and postgres refuse to run as root
UNPRIVILEGED = ("nobody", "nogroup")


def postgres_binary(name: str) -> str:
    """The path of one of PostgreSQL's server programs (Debian keeps them off ``PATH``)."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    found = candidates[-1] if candidates else shutil.which(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run scripts/install")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory (see the module's docstring)."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        """Keep fsync and synchronous commits on (a benchmark's figures then hold for a
        server that keeps what it acknowledged); the tests run without, which is faster."""
        self.base = Path(tempfile.mkdtemp(prefix="ekarta-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self._as_root = os.geteuid() == 0
        self._databases = 0

    def _run(self, *argv: str) -> None:
        kwargs: dict[str, object] = {}
        if self._as_root:
            kwargs = {"user": UNPRIVILEGED[0], "group": UNPRIVILEGED[1], "extra_groups": []}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                              **kwargs)  # type: ignore[call-overload]
        if done.returncode:
            log = self.base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip()}\n{tail}")

    def start(self) -> PostgresServer:
        if self._as_root:
            shutil.chown(self.base, *UNPRIVILEGED)
        self._run(postgres_binary("initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=300")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off"
        self._run(postgres_binary("pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.base / "server.log"), "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(postgres_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg  # only the sessions that start a server pay for loading it

        self._databases += 1
        name = f"test_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    @classmethod
    @contextmanager
    def running(cls, *, durable: bool = False) -> Iterator[PostgresServer]:
        server = cls(durable=durable).start()
        try:
            yield server
        finally:
            server.stop()
