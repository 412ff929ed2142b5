"""A throw-away PostgreSQL cluster for tests that stop and start the database server.

The shared server must never be stopped, so such tests get a cluster of their own: ``initdb`` into a
temporary folder, ``pg_ctl start`` on a free loopback port, ``pg_ctl stop`` whenever the test wants
an outage, and the folder removed afterwards. PostgreSQL refuses to run as root, so when the tests
run as root the binaries run as the ``postgres`` OS user (``runuser``).

:func:`availability` says why a cluster cannot be made here (no binaries, no psycopg); tests skip
with that message, except in CI (``CI`` set), where the same condition fails the test instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from gateway.testing import LOOPBACK, free_port

BIN_DIRS = ("/usr/lib/postgresql/*/bin",)
SERVICE_USER = "postgres"


def find_bin_dir() -> str | None:
    """The folder holding ``initdb`` and ``pg_ctl``: ``GATEWAY_TEST_PG_BIN`` when set, else the
    newest of ``/usr/lib/postgresql/<version>/bin``, else the ``PATH``."""
    configured = os.environ.get("GATEWAY_TEST_PG_BIN")
    if configured:
        return configured if os.path.exists(os.path.join(configured, "pg_ctl")) else None
    candidates = [d for pattern in BIN_DIRS for d in glob.glob(pattern) if os.path.exists(os.path.join(d, "pg_ctl"))]
    if candidates:
        return max(candidates, key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    found = shutil.which("pg_ctl")
    return os.path.dirname(found) if found and shutil.which("initdb") else None


def availability() -> str | None:
    """None when a throw-away cluster can be made here; else why not."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if find_bin_dir() is None:
        return "the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"running as root and there is no {SERVICE_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


class ThrowawayPostgres:
    """One cluster in its own folder, on its own port; ``start``/``stop`` as often as wanted,
    ``destroy`` at the end. Connect as user ``postgres`` (trust) on 127.0.0.1:``port``."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        if self.bin_dir is None:
            raise RuntimeError("no PostgreSQL binaries")
        self.root = tempfile.mkdtemp(prefix="gateway-pg-")
        self.data_dir = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "postgres.log")
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        if self._as_root:
            user = pwd.getpwnam(SERVICE_USER)
            os.chmod(self.root, 0o700)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [os.path.join(self.bin_dir, args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                               f"\n{self.server_log()}")

    def init(self) -> ThrowawayPostgres:
        self._run("initdb", "-D", self.data_dir, "-U", "postgres", "--auth=trust", "--no-sync",
                  "--encoding=UTF8", "--locale=C")
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = '{LOOPBACK}'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nfsync = off\nmax_connections = 100\n")
        return self

    def start(self) -> None:
        self._run("pg_ctl", "start", "-w", "-D", self.data_dir, "-l", self.log_path, "-t", "60")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-D", self.data_dir, "-m", mode, "-t", "60")

    def create_database(self, name: str) -> str:
        """Create ``name``; returns its SQLAlchemy URL (psycopg)."""
        import psycopg

        with psycopg.connect(host=LOOPBACK, port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def set_read_only(self, read_only: bool) -> None:
        """Make every transaction read-only from now on (or no longer), as a standby is: what the
        gateway meets when a failover leaves it talking to a server that takes no writes."""
        import psycopg

        with psycopg.connect(host=LOOPBACK, port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f"ALTER SYSTEM SET default_transaction_read_only = {'on' if read_only else 'off'}")
            connection.execute("SELECT pg_reload_conf()")

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/{name}"

    def server_log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""

    def destroy(self) -> None:
        try:
            if os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
