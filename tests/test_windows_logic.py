"""What benchtest does differently on Windows, checked by its logic on this machine.

The instrument lock's Windows branch runs against a stand-in `msvcrt` that keeps byte-range
locks per handle the way LockFileEx does, including a lock that outlives a close without an
unlock ("released when resources allow"). docs/howto-windows-lab-pc.md lists what these
tests cannot show and is untested on real Windows.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from benchtest.driver import ownership
from benchtest.driver.ownership import InstrumentBusyError, ResourceLock, lock_dir, resource_key
from benchtest.sim.bench import default_serial_transport
from benchtest.values.errors import InstrumentError

RESOURCE = "TCPIP::192.168.1.20::5025::SOCKET"


class FakeMsvcrt(types.ModuleType):
    """`msvcrt.locking` as Windows does it: a region locked through one handle cannot be locked
    through another; a handle closed with its lock held keeps the region locked."""

    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2

    def __init__(self) -> None:
        super().__init__("msvcrt")
        self.regions: dict[tuple[int, int, int], int] = {}  # (dev, inode, offset) -> fd
        self.calls: list[tuple[int, int, int]] = []  # (mode, offset, length)

    def locking(self, fd: int, mode: int, length: int) -> None:
        stat = os.fstat(fd)
        offset = os.lseek(fd, 0, os.SEEK_CUR)
        self.calls.append((mode, offset, length))
        region = (stat.st_dev, stat.st_ino, offset)
        if mode == self.LK_UNLCK:
            if self.regions.get(region) != fd:
                raise OSError(errno.EACCES, "Permission denied")
            del self.regions[region]
            return
        if region in self.regions:
            raise OSError(errno.EACCES, "Permission denied")
        self.regions[region] = fd


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeMsvcrt:
    fake = FakeMsvcrt()
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setenv(ownership.LOCK_DIR_ENV, str(tmp_path / "locks"))
    return fake


def test_the_lock_folder_is_under_programdata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delenv(ownership.LOCK_DIR_ENV, raising=False)
    monkeypatch.setenv("PROGRAMDATA", r"D:\ProgramData")
    assert lock_dir() == Path(r"D:\ProgramData") / "benchtest" / "locks"


def test_a_second_claim_is_refused_naming_the_holder(windows: FakeMsvcrt) -> None:
    with ResourceLock(RESOURCE, role="smu", plan="nightly") as first:
        with pytest.raises(InstrumentBusyError, match=r"process \d+ .* as role 'smu'"):
            ResourceLock(RESOURCE, role="smu").acquire()
        # The holder's record lies before the locked byte, so others can read it while locked.
        assert first.path.stat().st_size < ownership._WINDOWS_LOCK_OFFSET
    locked = (FakeMsvcrt.LK_NBLCK, ownership._WINDOWS_LOCK_OFFSET, 1)
    assert windows.calls[0] == locked


def test_release_unlocks_before_closing_so_the_next_claim_succeeds_at_once(
    windows: FakeMsvcrt,
) -> None:
    ResourceLock(RESOURCE).acquire().release()
    assert windows.calls[-1] == (FakeMsvcrt.LK_UNLCK, ownership._WINDOWS_LOCK_OFFSET, 1)
    assert windows.regions == {}
    ResourceLock(RESOURCE).acquire().release()  # not "in use by another process"


def test_a_lock_file_another_user_made_says_how_to_share_the_folder(
    windows: FakeMsvcrt, monkeypatch: pytest.MonkeyPatch
) -> None:
    ResourceLock(RESOURCE).acquire().release()  # the file exists, made by "another user"
    real_open = os.open

    def open_as_another_user(path: str, flags: int, *args: int) -> int:
        if flags & os.O_RDWR and str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, "Access is denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", open_as_another_user)
    with pytest.raises(InstrumentError, match=r"icacls .* /grant \*S-1-5-32-545:\(OI\)\(CI\)M"):
        ResourceLock(RESOURCE).acquire()


@pytest.mark.parametrize("port", ["COM5", "com5", r"\\.\COM5"])
def test_a_com_port_is_one_instrument_however_it_is_written(port: str) -> None:
    assert resource_key(port) == resource_key("COM5")
    assert resource_key("COM15") != resource_key("COM5")


def test_the_simulated_debug_port_is_a_socket_where_there_are_no_pseudo_terminals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert default_serial_transport() == "pty"
    monkeypatch.setattr(os, "name", "nt")
    assert default_serial_transport() == "socket"


def test_ctrl_break_ends_a_run_like_ctrl_c_where_the_platform_has_it() -> None:
    """Windows' signal module has SIGBREAK (Ctrl+Break, a closed console); stand one in."""
    code = (
        "import signal; signal.SIGBREAK = signal.SIGUSR1\n"
        "from benchtest.values.stops import STOP_SIGNALS, on_stop\n"
        "assert signal.SIGUSR1 in STOP_SIGNALS, STOP_SIGNALS\n"
        "try:\n"
        "    on_stop(signal.SIGUSR1, None)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupt')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "interrupt", done.stderr
