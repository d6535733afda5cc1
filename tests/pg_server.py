"""A real, throw-away PostgreSQL server for the lab-catalog tests (no mock stands in for it).

`postgres_server` (session scope) finds the server programs of the distribution's PostgreSQL
packages (`initdb`, `pg_ctl` on the PATH, in `pg_config --bindir`, or under
/usr/lib/postgresql/*/bin), makes a private cluster in a temporary folder, and starts it on a
free loopback port with password authentication. PostgreSQL refuses to run as root, so under
root the cluster belongs to the `postgres` user (or `nobody`). When no server can be started,
every test that needs one is skipped with the reason. `lab_url` gives each test a database of
its own, dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "bt-" + secrets.token_hex(8)  # a password with nothing to redact by accident
USER = "benchtest"


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{database}"


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    config = shutil.which("pg_config")
    if config:
        done = subprocess.run([config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and (Path(done.stdout.strip()) / "pg_ctl").is_file():
            return Path(done.stdout.strip())
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _owner() -> pwd.struct_passwd | None:
    """The user the server runs as: None for the current one (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _start(bindir: Path, folder: Path) -> tuple[Server, Path]:
    owner = _owner()
    if os.geteuid() == 0 and owner is None:
        raise RuntimeError("running as root, and no 'postgres' or 'nobody' user to run it as")
    as_owner = {"user": owner.pw_uid, "group": owner.pw_gid} if owner else {}
    data, socket_dir = folder / "data", folder / "socket"
    socket_dir.mkdir()
    secret = folder / "password"
    secret.write_text(PASSWORD, encoding="utf-8")
    if owner is not None:
        for path in (folder, socket_dir, secret):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    run = {"capture_output": True, "text": True, "timeout": 120, "check": False, **as_owner}
    done = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={secret}",
         "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"],
        **run,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
    secret.unlink()
    for _ in range(3):  # a free port may be taken between finding and binding it
        port = _free_port()
        options = (
            f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        done = subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
             str(folder / "server.log"), "-w", "-t", "60", "start"],
            **run,
        )  # fmt: skip
        if done.returncode == 0:
            return Server("127.0.0.1", port, USER, PASSWORD), data
    log = (folder / "server.log").read_text(errors="replace")[-500:]
    raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()[-300:]} {log}")


def _stop(bindir: Path, data: Path) -> None:
    owner = _owner()
    as_owner = {"user": owner.pw_uid, "group": owner.pw_gid} if owner else {}
    subprocess.run(
        [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
        capture_output=True, timeout=60, check=False, **as_owner,
    )  # fmt: skip


class NoServer(RuntimeError):
    """No PostgreSQL server can be started here: says why."""


@contextmanager
def throwaway_server() -> Iterator[Server]:
    """A PostgreSQL server of the distribution's packages in a temporary folder, stopped and
    deleted on exit; NoServer saying why when none can be started."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise NoServer("psycopg is not installed (pip install 'benchtest[postgres]')") from None
    bindir = _bindir()
    if bindir is None:
        raise NoServer(
            "no PostgreSQL server programs (initdb, pg_ctl) on this machine: "
            "apt-get install postgresql"
        )
    # Not under pytest's tmp folder: under root that folder is closed to the server's user.
    folder = Path(tempfile.mkdtemp(prefix="benchtest-pg-", dir="/tmp"))
    data = None
    try:
        try:
            server, data = _start(bindir, folder)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            raise NoServer(f"cannot start a PostgreSQL server: {exc}") from None
        yield server
    finally:
        if data is not None:
            _stop(bindir, data)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """A PostgreSQL server of the distribution's packages, started for this test session."""
    try:
        with throwaway_server() as server:
            yield server
    except NoServer as exc:
        pytest.skip(str(exc))


@pytest.fixture
def lab_url(postgres_server: Server) -> Iterator[str]:
    """The URL (with its password) of an empty database of this test's own."""
    import psycopg

    name = "lab_" + secrets.token_hex(6)
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield postgres_server.url(name)
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
