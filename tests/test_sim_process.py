"""The simulator in its own process: ready line, resolved bench, journal, and no process left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchtest.sim import SimulatorProcess
from benchtest.sim.testing import visa_session, wait_until
from benchtest.values.errors import SimulatorError

ROOT = Path(__file__).parents[1]
DUT = ROOT / "dut_profiles" / "bt_ldo33.yaml"
BENCH = ROOT / "benches" / "sim.yaml"
SIM = [sys.executable, "-m", "benchtest.sim", "--dut", str(DUT), "--bench", str(BENCH)]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_child_serves_the_bench_and_journals_output_off(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    with SimulatorProcess(DUT, BENCH, journal=journal) as sim:
        pid = sim.pid
        instruments = sim.resolved_bench["instruments"]
        # every instrument on a loopback port, but the debug port on a pseudo-terminal
        assert sim.bench_path.read_text().count("127.0.0.1") == len(instruments) - 1
        with visa_session(instruments["smu"]["resource"]) as smu:
            assert smu.query("*IDN?").startswith("KEITHLEY INSTRUMENTS INC.,MODEL 2450")
            smu.write(":SOUR:VOLT 5;:SOUR:VOLT:ILIM 0.01;:OUTP ON")
            assert smu.query(":OUTP?") == "1"
            smu.write(":OUTP OFF")
            assert smu.query(":OUTP?") == "0"
    assert sim.returncode == 0  # exited cleanly on SIGTERM
    assert not alive(pid)
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    outputs = [e["value"] for e in entries if e["role"] == "smu" and e["event"] == "output"]
    assert outputs == [True, False]
    assert {"role": "dut", "event": "power", "value": False}.items() <= entries[-1].items()


@pytest.mark.parametrize(
    ("change", "message"),
    [(None, r"profile\.yaml: DUT profile not found"),
     (("schema_version: 1", "schema_version: 3"), r"profile\.yaml: schema_version: expected"),
     (("vout_nominal: 3.300", "vout_nominal: high"),
      r"profile\.yaml.*model\.vout_nominal: expected a number")],
)  # fmt: skip
def test_child_that_dies_raises_with_its_stderr(
    tmp_path: Path, change: tuple[str, str] | None, message: str
) -> None:
    profile = tmp_path / "profile.yaml"
    if change is not None:
        text = DUT.read_text(encoding="utf-8")
        assert change[0] in text
        profile.write_text(text.replace(*change))
    process = SimulatorProcess(profile, BENCH)
    with pytest.raises(
        SimulatorError, match=rf"exited with status 1 before it was ready: .*{message}"
    ):
        process.start()
    assert process.returncode == 1


def test_child_ignores_sigint_and_exits_at_end_of_stdin(tmp_path: Path) -> None:
    bench = tmp_path / "resolved.yaml"
    command = [*SIM, "--write-bench", str(bench)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None and child.stdin is not None
            lines = iter(child.stdout.readline, b"")
            assert b"benchtest-sim ready\n" in lines  # after the addresses of the simulators
            assert "SOCKET" in bench.read_text()
            child.send_signal(signal.SIGINT)
            time.sleep(0.3)
            assert child.poll() is None  # Ctrl-C does not take the instruments away
            child.stdin.close()
            assert child.wait(5) == 0
        finally:
            child.kill()


def test_child_exits_when_its_parent_dies() -> None:
    launcher = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen({[*SIM, '--ignore-stdin']!r}, stdout=subprocess.PIPE); "
        "assert p.stdout.readline().startswith(b'schema_version'); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    with subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.PIPE) as parent:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        try:
            assert alive(pid)
            parent.kill()
            wait_until(lambda: not alive(pid), timeout=5)
        finally:
            parent.kill()
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the environment in /proc")
@pytest.mark.parametrize("chosen", [None, "2"])
def test_the_simulator_runs_openblas_on_one_thread_unless_told_otherwise(
    chosen: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chosen is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", chosen)
    with SimulatorProcess(DUT, BENCH) as sim:
        environ = Path(f"/proc/{sim.pid}/environ").read_bytes().split(b"\0")
        assert f"OPENBLAS_NUM_THREADS={chosen or 1}".encode() in environ
