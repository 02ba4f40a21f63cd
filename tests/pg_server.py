"""A throw-away PostgreSQL server for tests and benchmarks: Debian's binaries, a temporary data
folder, socket folder and port on 127.0.0.1, a password login like a practice's.

As root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

ROLE, PASSWORD = "cephview", "chair-side-secret"


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def why_unavailable() -> str | None:
    if find_bin_dir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql"
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL as the postgres user"
    return None


def language_locale() -> str | None:
    """An installed UTF-8 locale of a language (en_US first), whose collation orders text otherwise
    than bytes do; None where only C, C.UTF-8 and POSIX are installed, which all sort by bytes."""
    try:
        listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    found = [name for name in listed if re.fullmatch(r"[a-z]{2,3}_[A-Z]{2}\.(utf8|UTF-8)", name)]
    return min(found, key=lambda name: not name.startswith("en_US")) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.bin = find_bin_dir()
        assert self.bin is not None, why_unavailable()
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="cephview-pg-"))
        self.data, self.sockets, self.port = self.root / "data", self.root / "sock", _free_port()
        self.sockets.mkdir()
        self.settings = settings or {}
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")

    def _run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120, **kwargs)

    def start(self) -> PostgresServer:
        pwfile = self.root / "pw"
        pwfile.write_text("unused-superuser-password\n")
        if self.as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        options = f"-k {self.sockets} -p {self.port} -c listen_addresses=127.0.0.1"
        options += "".join(f" -c {k}={v}" for k, v in self.settings.items())
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")
        self.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        return self

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.sockets), port=self.port, user="postgres", dbname=dbname,
                             autocommit=True) as conn:
            conn.execute(sql)

    def url(self, dbname: str, user: str = ROLE, password: str = PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self, locale: str | None = None) -> str:
        """A new empty database owned by the practice's role; its URL. ``locale`` (an installed
        one, ``locale -a``) sets the database's collation and character classes, as a server
        set up in that language would have them; without it, the cluster's (initdb's) locale."""
        name = f"proj_{uuid.uuid4().hex[:12]}"
        how = f" TEMPLATE template0 ENCODING 'UTF8' LOCALE '{locale}'" if locale else ""
        self.admin(f"CREATE DATABASE {name} OWNER {ROLE}{how}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
