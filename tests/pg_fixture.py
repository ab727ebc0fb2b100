"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temp dir on 127.0.0.1:<random port>.

Works as root (runs the server as the `postgres` user through runuser) and as a normal user.
Use the `pg_server` fixture (session scope) or `PgServer` directly; `.url` is an SQLAlchemy URL.
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def _pg_bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temp dir; start(), stop(), restart(); url for psycopg 3."""

    def __init__(self):
        self.bindir = _pg_bindir()
        if not self.bindir:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.as_root = os.geteuid() == 0
        self.tmp = tempfile.mkdtemp(prefix="tl-pg-")
        os.chmod(self.tmp, 0o755)
        self.data = os.path.join(self.tmp, "data")
        self.port = _free_port()
        self.user = "postgres" if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", self.user, "--no-sync", "-E", "UTF8")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.tmp}'\nfsync = off\nshared_buffers = 16MB\n"
                    "max_connections = 40\n")
        self.url = f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, prog, *args, check=True):
        cmd = [os.path.join(self.bindir, prog), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd=self.tmp)

    def start(self):
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.tmp, "log"), "-w", "-t", "30", "start")
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start")

    def stop(self, mode="fast"):
        """Stop the server (mode fast|immediate)."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def create_database(self, name):
        """Create a fresh database and return its SQLAlchemy URL."""
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def destroy(self):
        """Stop the server and delete its files."""
        self.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    """A running throwaway PostgreSQL server for the whole test session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("psycopg (pip install 'psycopg[binary]') is required for the PostgreSQL tests")
    srv = PgServer().start()
    yield srv
    srv.destroy()
