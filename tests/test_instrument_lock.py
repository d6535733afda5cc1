"""One process per physical instrument, however the resource is written, for every user.

The lock is named after the instrument (`resource_key`), lives in one folder per machine
(not the temp folder), can be read and taken by every user, names its holder, is taken over
when its holder died, and `benchtest check` and `scan` respect it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from as_user import in_a_child_as

from benchtest import open_instrument
from benchtest.cli.discovery import check_bench, scan
from benchtest.driver import ownership
from benchtest.driver.ownership import (
    LOCK_DIR_ENV,
    InstrumentBusyError,
    ResourceLock,
    lock_dir,
    resource_key,
)
from benchtest.sim.bench import SimulatedBench
from benchtest.values.errors import InstrumentError

REPO = Path(__file__).resolve().parent.parent
DUT = REPO / "dut_profiles" / "bt_ldo33.yaml"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("TCPIP::10.0.0.5::5025::SOCKET", "TCPIP0::10.0.0.5::5025::SOCKET"),
        ("TCPIP::10.0.0.5::5025::SOCKET", "tcpip1::10.0.0.5::5025::socket"),
        ("TCPIP::localhost::5025::SOCKET", "TCPIP0::127.0.0.1::5025::SOCKET"),
        ("TCPIP::127.0.0.1::5025::SOCKET", "socket://localhost:5025"),
        ("TCPIP::10.0.0.5::INSTR", "tcpip0::10.0.0.5::inst0::instr"),
        ("TCPIP::10.0.0.5", "TCPIP0::10.0.0.5::hislip0::INSTR"),
        ("GPIB::5", "GPIB0::5::INSTR"),
        ("gpib0::5::instr", "GPIB::5"),
        ("USB::0x2A8D::0x9101::MY511::INSTR", "usb0::10893::37121::my511::0::INSTR"),
        ("ASRL/dev/ttyUSB0::INSTR", "/dev/ttyUSB0"),
        ("COM3", r"\\.\com3"),
        ("sim://SMU", "sim://smu"),
    ],
)
def test_one_instrument_has_one_key_however_it_is_written(one: str, other: str) -> None:
    assert resource_key(one) == resource_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("TCPIP::10.0.0.5::5025::SOCKET", "TCPIP::10.0.0.5::5026::SOCKET"),
        ("TCPIP::10.0.0.5::5025::SOCKET", "TCPIP::10.0.0.6::5025::SOCKET"),
        ("GPIB0::5::INSTR", "GPIB1::5::INSTR"),
        ("GPIB0::5::INSTR", "GPIB0::6::INSTR"),
        ("TCPIP::10.0.0.5::gpib0,5::INSTR", "TCPIP::10.0.0.5::gpib0,7::INSTR"),
        ("/dev/ttyUSB0", "/dev/ttyUSB1"),
    ],
)
def test_different_instruments_have_different_keys(one: str, other: str) -> None:
    assert resource_key(one) != resource_key(other)


def test_a_serial_port_is_its_device_behind_symlinks(tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB7"
    device.touch()
    by_id = tmp_path / "serial" / "by-id"
    by_id.mkdir(parents=True)
    (by_id / "usb-FTDI_FT232R_A1B2C3-if00-port0").symlink_to(device)
    assert resource_key(str(by_id / "usb-FTDI_FT232R_A1B2C3-if00-port0")) == resource_key(
        str(device)
    )


@pytest.mark.parametrize(
    ("resource", "words"),
    [
        ("TCPIP::10.0.0.5::99999::SOCKET", "port 99999"),
        ("TCPIP::10.0.0.5::telnet::SOCKET", "port 'telnet'"),
        ("socket://10.0.0.5", "no port"),
        ("FOO::1::INSTR", "unknown interface"),
    ],
)
def test_a_malformed_resource_is_an_instrument_error(resource: str, words: str) -> None:
    with pytest.raises(InstrumentError, match=words):
        ResourceLock(resource, role="smu")


def test_a_host_that_does_not_resolve_in_time_keeps_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()

    def hanging_resolver(*args: object, **kwargs: object) -> object:
        release.wait(30)
        raise OSError("gave up")

    monkeypatch.setattr(ownership.socket, "getaddrinfo", hanging_resolver)
    monkeypatch.setattr(ownership, "RESOLVE_TIMEOUT", 0.05)
    try:
        assert resource_key("TCPIP::Slow-Host.example::INSTR") == "tcpip::slow-host.example::inst0"
    finally:
        release.set()
        ownership._resolve.cache_clear()


@pytest.mark.parametrize(
    "other",
    [
        "TCPIP0::127.0.0.1::5025::SOCKET",
        "tcpip::localhost::5025::socket",
        "socket://localhost:5025",
    ],
)
def test_another_spelling_of_a_held_instrument_is_refused(other: str) -> None:
    with (
        ResourceLock("TCPIP::127.0.0.1::5025::SOCKET", role="smu"),
        pytest.raises(InstrumentBusyError, match=r"in use by process \d+ .*role 'smu'"),
    ):
        ResourceLock(other, role="psu").acquire()
    ResourceLock(other).acquire().release()


def test_the_lock_folder_is_the_same_whatever_the_temp_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(LOCK_DIR_ENV)
    folders = set()
    for temp in ("one", "two"):
        monkeypatch.setenv("TMPDIR", str(tmp_path / temp))
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / temp))
        folders.add(lock_dir())
    assert len(folders) == 1
    assert not str(folders.pop()).startswith(str(tmp_path))


def test_the_lock_folder_is_the_first_usable_system_folder_else_the_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(LOCK_DIR_ENV)
    absent = tmp_path / "no" / "such" / "benchtest"
    usable = tmp_path / "run-lock" / "benchtest"
    usable.parent.mkdir()
    monkeypatch.setattr(ownership, "SYSTEM_LOCK_DIRS", (absent, usable))
    assert lock_dir() == usable
    monkeypatch.setattr(ownership, "SYSTEM_LOCK_DIRS", (absent,))
    assert lock_dir() == ownership.FALLBACK_LOCK_DIR
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "mine"))
    assert lock_dir() == tmp_path / "mine"


def test_lock_files_can_be_read_and_taken_by_every_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "locks"
    monkeypatch.setenv(LOCK_DIR_ENV, str(folder))
    old_umask = os.umask(0o077)
    try:
        lock = ResourceLock("TCPIP::10.0.0.5::INSTR", role="smu").acquire()
    finally:
        os.umask(old_umask)
    try:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o1777
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o666
        assert lock.path.parent == folder
    finally:
        lock.release()


def test_a_held_lock_is_tried_again_soon_then_less_often_and_taken_once_let_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = ResourceLock("GPIB0::7::INSTR", role="scope").acquire()
    pauses: list[float] = []

    def sleep(seconds: float) -> None:  # the holder lets go during the 6th pause
        pauses.append(seconds)
        if len(pauses) == 6:
            holder.release()

    monkeypatch.setattr(ownership.time, "sleep", sleep)
    waiter = ResourceLock("GPIB::7", role="scope").acquire(wait=600.0)
    try:
        assert waiter.held
        first, most = ownership.FIRST_POLL_PAUSE, ownership.MAX_POLL_PAUSE
        assert pauses == [first, 2 * first, 4 * first, most, most, most]
    finally:
        waiter.release()


def test_the_holder_is_named_with_user_process_host_plan_and_time() -> None:
    with (
        ResourceLock("GPIB0::5::INSTR", role="smu", plan="pytest test_plans/ldo"),
        pytest.raises(InstrumentBusyError) as info,
    ):
        ResourceLock("GPIB::5", role="dmm").acquire()
    message = str(info.value)
    assert message.startswith("[dmm] GPIB::5 is in use by process")
    assert f"process {os.getpid()} of {ownership._user()}@{platform.node()}" in message
    assert "as role 'smu' since 20" in message and "(running: pytest test_plans/ldo)" in message


def holding(resource: str) -> subprocess.Popen[str]:
    """A process that takes `resource`'s lock, says "holding", and holds it until its input
    ends."""
    code = (
        "import sys\n"
        "from benchtest.driver.ownership import ResourceLock\n"
        f"lock = ResourceLock({resource!r}, role='smu', plan='plan under test').acquire()\n"
        "print('holding', flush=True)\n"
        "sys.stdin.read()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


@contextlib.contextmanager
def stopped_at_the_end(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "holding"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def test_the_lock_of_a_killed_holder_is_taken_over() -> None:
    with stopped_at_the_end(holding("TCPIP::10.0.0.9::INSTR")) as holder:
        with pytest.raises(InstrumentBusyError, match=rf"process {holder.pid} "):
            ResourceLock("TCPIP0::10.0.0.9::inst0::INSTR").acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    with ResourceLock("TCPIP0::10.0.0.9::inst0::INSTR", plan="the next plan") as lock:
        assert "the next plan" in lock.holder() and f"process {os.getpid()} " in lock.holder()


@pytest.fixture
def shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A lock folder another user can reach: the folders above it let everyone through
    (search permission only) for the length of the test."""
    opened = []
    for folder in [tmp_path, *tmp_path.parents]:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
            opened.append((folder, mode))
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "locks"))
    try:
        yield tmp_path / "locks"
    finally:
        for folder, mode in opened:
            folder.chmod(mode)


def as_another_user(uid: int, resource: str) -> str:
    """What taking `resource`'s lock gives in a process of user `uid`: "taken", or the error."""

    def take() -> str:
        ResourceLock(resource, role="dmm").acquire().release()
        return "taken"

    return in_a_child_as(uid, take, lambda exc: f"{type(exc).__name__} {exc}")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to act as another user"
)
def test_a_second_user_is_told_who_holds_the_instrument(shared_folder: Path) -> None:
    nobody = 65534
    with ResourceLock("GPIB0::9::INSTR", role="smu", plan="plan of root"):
        told = as_another_user(nobody, "GPIB::9")
    assert told.startswith("InstrumentBusyError [dmm] GPIB::9 is in use by process"), told
    assert f"process {os.getpid()} of root@" in told and "running: plan of root" in told
    assert as_another_user(nobody, "GPIB::9") == "taken"  # once free, the other user takes it


@pytest.fixture
def served_bench(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The simulated bench in this process, and a bench file pointing at it."""
    profile = yaml.safe_load(DUT.read_text(encoding="utf-8"))
    bench = yaml.safe_load((REPO / "benches" / "sim.yaml").read_text(encoding="utf-8"))
    with SimulatedBench(profile, bench) as simulated:
        resolved = simulated.resolved_bench()
        path = tmp_path / "bench.yaml"
        path.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
        yield path, {r: s["resource"] for r, s in resolved["instruments"].items()}


def another_spelling(resource: str) -> str:
    """`TCPIP::127.0.0.1::<port>::SOCKET` as `TCPIP0::localhost::<port>::SOCKET`."""
    return resource.replace("TCPIP::", "TCPIP0::").replace("127.0.0.1", "localhost")


def test_check_leaves_an_instrument_a_running_plan_holds_alone(
    served_bench: tuple[Path, dict[str, str]],
) -> None:
    """The plan's SMU has an error in its queue; `check` must name the plan, not clear it."""
    path, resources = served_bench
    smu = another_spelling(resources["smu"])
    code = (
        "import sys\n"
        "from benchtest import open_instrument\n"
        f"smu = open_instrument('keithley.k2450', {smu!r}, role='smu', plan='plan under test')\n"
        "smu.write('BOGUS:COMMAND', check=False)\n"
        "print('holding', flush=True)\n"
        "sys.stdin.readline()\n"
        "print(smu.query(':SYSTem:ERRor?'), flush=True)\n"
        "smu.close()\n"
    )
    plan = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    with stopped_at_the_end(plan):
        _, results = check_bench(path, DUT)
        assert plan.stdin is not None and plan.stdout is not None
        plan.stdin.write("go on\n")
        plan.stdin.flush()
        queue = plan.stdout.readline().strip()
    by_role = {r.role: r for r in results}
    assert not by_role["smu"].ok
    assert f"in use by process {plan.pid} " in by_role["smu"].problem
    assert "running: plan under test" in by_role["smu"].problem
    assert all(r.ok for r in results if r.role != "smu"), results
    assert queue.startswith("-113,"), f"the plan's error queue was cleared: {queue!r}"


def test_check_command_names_the_holder(
    served_bench: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    from benchtest.cli.commands import main

    path, resources = served_bench
    with stopped_at_the_end(holding(resources["scope"])) as holder:
        assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"in use by process {holder.pid} " in out and "1 of 8 roles failed: scope" in out


def test_scan_does_not_talk_to_a_held_instrument(
    served_bench: tuple[Path, dict[str, str]],
) -> None:
    _, resources = served_bench
    port = resources["smu"].split("::")[2]
    with stopped_at_the_end(holding(f"socket://localhost:{port}")) as holder:
        found = scan(sockets=[f"127.0.0.1:{port}"], timeout=0.5)
    smu = next(f for f in found if f.resource == f"TCPIP::127.0.0.1::{port}::SOCKET")
    assert not smu.identity and f"in use by process {holder.pid} " in smu.problem


def test_open_instrument_sends_nothing_to_a_held_instrument(
    served_bench: tuple[Path, dict[str, str]],
) -> None:
    _, resources = served_bench
    with (
        stopped_at_the_end(holding(resources["dmm"])),
        pytest.raises(InstrumentBusyError, match="running: plan under test"),
    ):
        open_instrument("generic.scpi_dmm", another_spelling(resources["dmm"]), role="dmm")
