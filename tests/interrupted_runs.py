"""Runs of a small plan stopped by a signal at a chosen line of benchtest's code, or killed.

`python interrupted_runs.py FOLDER` imports benchtest, pytest and the simulated bench once,
runs the plan once to warm up, prints READY, then for each line of SPECs it reads forks one
child per SPEC, two at a time. A SPEC is `WHEN[:SIGNAL][:sim][:shared]`:

- WHEN: `N`, the N-th line benchtest's code runs in the main thread (0: never; such a run
  counts its lines and notes where each phase of the run begins); `N@PHASE[#K]`, the N-th
  line from the K-th (first) time the phase begins (`PHASES`, spaces written as dashes:
  `1@run-file-sealed` is the first line of the seal); or `tMS`, MS milliseconds after the
  fork (sent by this process: the child may be anywhere, in HDF5 or a socket call too);
- SIGNAL: INT (Ctrl-C, the default), TERM or KILL;
- `sim`: the run starts its simulated bench itself (`--sim`, a child process); else the child
  serves the bench in threads of its own, so a run costs no process start;
- `shared`: the run writes into FOLDER/shared, the results folder runs share (else a folder
  of its own).

Each child runs `benchtest run` on the plan (`benchtest.cli.main`, in the process, so the
signal lands at an exact line) and writes what it left behind: its exit status, where the
signal landed, the tests that finished before it, the threads and processes left running, the
simulated outputs' states in order and its terminal output. For each SPEC this prints one JSON
line, in order, then END, with the run files it made; a child that did not write its record
(killed) is described by its wait status and whether its process group (its simulator)
ended.
"""

from __future__ import annotations

import dis
import gc
import json
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml
from _pytest.terminal import TerminalReporter

import benchtest
from benchtest.cli.commands import main
from benchtest.sim.bench import SimulatedBench
from benchtest.sim.server.journal import Journal, read_values

REPO = Path(__file__).resolve().parents[1]
BENCHTEST = str(Path(benchtest.__file__).parent)
ROLES = ("smu", "load")  # the DUT profile guards the load's net on the load role
LEFT_GONE = 5.0  # s the run's own threads and processes may take to end after it returned
PARALLEL = 2  # children at a time

PLAN = """
def test_sources_with_two_instruments(smu, load):
    smu.source_voltage(3.0, current_limit=0.01)
    smu.output_on()
    load.source_current(-0.001, voltage_limit=5.0)
    load.output_on()


def test_measures(smu, measure):
    smu.source_voltage(3.0, current_limit=0.01)
    smu.output_on()
    measure("iq_active", smu.measure_current())


def test_leaves_the_output_on(smu):
    smu.source_voltage(3.0, current_limit=0.01)
    smu.output_on()
"""

# Each test pytest has finished (set-up, call, teardown, recorded), in order. The plan's
# conftest is no benchtest code: it moves no line count.
CONFTEST = """
import os

def pytest_runtest_logfinish(nodeid, location):
    with open(os.environ["FINISHED_TESTS"], "a", encoding="utf-8") as file:
        file.write(nodeid + "\\n")
"""

#: Where the phases of a run begin: each time one of these functions is called, the line
#: count is noted (by a run with no signal).
PHASES = {
    "session start": "DutSession.start",
    "run file created": "Hdf5RunWriter._run_started",
    "instrument opened": "InstrumentPool._connect",
    # In the run file writer a stop waits for the end of the event: raised where it was sent.
    "instrument recorded": "Hdf5RunWriter._instrument_identified",
    "test started": "Hdf5RunWriter._test_started",
    "safe state recorded": "Hdf5RunWriter._safe_state_applied",
    "measurement": "Measure.__call__",
    "test stored": "Hdf5RunWriter._test_finished",
    "safe state": "InstrumentPool.make_safe",
    "instruments closed": "InstrumentPool._disconnect",
    "session close": "DutSession.close",
    "run file closed": "Hdf5RunWriter.close",
    "run file sealed": "Hdf5RunWriter._seal",
    "simulator started": "SimulatorProcess.launch",
    "simulator ready": "SimulatorProcess.wait_ready",
    "simulator stopped": "SimulatorProcess.stop",
}
_PHASE_OF = {qualname: phase for phase, qualname in PHASES.items()}


@dataclass(frozen=True)
class Spec:
    line: int  # 0: no line
    anchor: str  # counted from the `occurrence`-th call of this function ("": the start)
    occurrence: int
    after_ms: float  # < 0: not by time
    signum: signal.Signals | None
    own_simulator: bool
    shared: bool

    @classmethod
    def parse(cls, text: str) -> Spec:
        when, *rest = text.split(":")
        names = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "KILL": signal.SIGKILL}
        signals = [names[word] for word in rest if word in names]
        timed = when.startswith("t")
        when, _, phase = when.partition("@")
        phase, _, occurrence = phase.partition("#")
        line = 0 if timed else int(when)
        signum = signals[0] if signals else (signal.SIGINT if timed or line else None)
        return cls(
            line=line,
            anchor=PHASES[phase.replace("-", " ")] if phase else "",
            occurrence=int(occurrence or 1),
            after_ms=float(when[1:]) if timed else -1.0,
            signum=signum,
            own_simulator="sim" in rest,
            shared="shared" in rest,
        )


class Injector:
    """A trace function: counts the lines benchtest's code runs in the main thread, notes
    where each phase begins, and sends the spec's signal at its line (counted from the start,
    or from where its anchor function is called)."""

    def __init__(self, spec: Spec) -> None:
        self.signum = spec.signum
        self.anchor, self.occurrence = spec.anchor, spec.occurrence
        self.at = spec.line if not spec.anchor else -1  # known once the anchor is called
        self.line = spec.line
        self.count = 0
        self.landed = ""
        self.phases: dict[str, list[int]] = {}

    def __call__(self, frame: FrameType, event: str, arg: object) -> Any:
        name = frame.f_code.co_filename
        if not name.startswith(BENCHTEST):  # the simulator's own threads are not traced
            return None
        if event == "call":
            qualname = frame.f_code.co_qualname
            phase = _PHASE_OF.get(qualname)
            if phase is not None:
                calls = self.phases.setdefault(phase, [])
                calls.append(self.count + 1)
                if qualname == self.anchor and len(calls) == self.occurrence:
                    self.at = self.count + self.line
        elif event == "line":
            self.count += 1
            if self.count == self.at and self.signum is not None:
                if _exits_a_with(frame):
                    self.at += 1  # no signal lands there: its handler would run at the next line
                    return self
                self.landed = f"{os.path.relpath(name, REPO)}:{frame.f_lineno}"
                signal.raise_signal(self.signum)
        return self


def _exits_a_with(frame: FrameType) -> bool:
    """Whether the line about to run is the exit of a `with` block: `__exit__(None, None,
    None)`, which the interpreter reports as a line of its own. Python runs a signal's handler
    only where it checks for one (after a call, at a loop's jump back, entering a function),
    never between a block's last statement and that call; a trace function raising there would
    skip `__exit__` (a lock left taken), which no signal can do."""
    following = [i for i in dis.get_instructions(frame.f_code) if i.offset >= frame.f_lasti][:5]
    nones = [i.opname == "LOAD_CONST" and i.argval is None for i in following]
    return any(nones[start : start + 3] == [True] * 3 for start in range(3))


def bench_text() -> str:
    bench = yaml.safe_load((REPO / "benches" / "sim.yaml").read_text(encoding="utf-8"))
    bench["instruments"] = {role: bench["instruments"][role] for role in ROLES}
    return yaml.safe_dump(bench, sort_keys=False)


def prepare(folder: Path) -> None:
    (folder / "test_plan.py").write_text(PLAN, encoding="utf-8")
    (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    profile = (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
    (folder / "ldo.yaml").write_text(profile, encoding="utf-8")
    (folder / "bench.yaml").write_text(bench_text(), encoding="utf-8")
    (folder / "shared").mkdir()


def run_once(plans: Path, folder: Path, results: Path, spec: Spec) -> dict[str, Any]:
    """One run in this process (`folder` holds what it leaves besides its run file); what it
    left behind."""
    finished = folder / "finished.txt"
    os.environ["FINISHED_TESTS"] = str(finished)
    arguments = ["run", "test_plan.py", "--dut", "ldo.yaml", "--results-dir", str(results)]
    arguments += ["-p", "no:cacheprovider", "-q", "--rootdir", str(plans)]
    journal = folder / "journal.jsonl"
    served: SimulatedBench | None = None
    if spec.own_simulator:
        os.environ["BENCHTEST_SIM_JOURNAL"] = str(journal)
        arguments += ["--sim", "--bench", "bench.yaml"]
    else:
        profile = yaml.safe_load((plans / "ldo.yaml").read_text(encoding="utf-8"))
        bench = yaml.safe_load(bench_text())
        served = SimulatedBench(profile, bench, journal=Journal(journal)).start()
        (folder / "bench.yaml").write_text(served.bench_yaml(), encoding="utf-8")
        arguments += ["--bench", str(folder / "bench.yaml")]
    before = set(threading.enumerate())
    injector = Injector(spec)
    escaped = ""
    os.chdir(plans)
    began = time.monotonic()
    sys.settrace(injector)
    try:
        status: int | str = main(arguments)
    except BaseException as exc:  # what escaped the command is what the test reports
        status = f"raised {type(exc).__name__}"
        escaped = traceback.format_exc()
    finally:
        sys.settrace(None)
    seconds = time.monotonic() - began
    threads = _threads_left(before)
    processes = _processes_left()
    if served is not None:
        served.stop()
        served.journal.close()
    sys.stdout.flush()
    sys.stderr.flush()
    return {
        "lines": injector.count,
        "seconds": seconds,
        "landed": injector.landed,
        "phases": injector.phases,
        "status": status,
        "escaped": escaped,
        "finished": finished.read_text(encoding="utf-8").split() if finished.exists() else [],
        "threads": threads,
        "processes": processes,
        "outputs": {role: read_values(journal, role, "output") for role in ROLES},
    }


def _threads_left(before: set[threading.Thread]) -> list[str]:
    deadline = time.monotonic() + LEFT_GONE
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            return [t.name for t in left]
        time.sleep(0.005)


def _processes_left() -> int:
    """How many child processes of this one still run (those that ended are reaped)."""
    deadline = time.monotonic() + LEFT_GONE
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:  # one still runs
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.005)


def child(plans: Path, folder: Path, spec: Spec) -> None:
    os.setsid()  # a process group of its own: what it starts can be found after a kill
    output = os.open(folder / "output.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    results = plans / "shared" if spec.shared else folder
    record = run_once(plans, folder, results, spec)
    record["output"] = (folder / "output.txt").read_text(encoding="utf-8", errors="replace")
    (folder / "record.json").write_text(json.dumps(record), encoding="utf-8")


def _start(plans: Path, folder: Path, spec: Spec) -> int:
    folder.mkdir()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child(plans, folder, spec)
            code = 0
        finally:
            os._exit(code)
    return pid


def _finish(pid: int, folder: Path, spec: Spec, text: str) -> dict[str, Any]:
    if spec.after_ms >= 0:
        time.sleep(spec.after_ms / 1000)
        assert spec.signum is not None
        os.kill(pid, spec.signum)
    _, status = os.waitpid(pid, 0)
    path = folder / "record.json"
    record = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if not record:  # killed: its process group must empty itself (an orphaned simulator)
        record["killed_by"] = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        record["group_left"] = _group_left(pid)
    record.update(spec=text, folder=str(folder), wait_status=status)
    return record


def _group_left(group: int) -> bool:
    deadline = time.monotonic() + LEFT_GONE
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.01)
    return True


def serve(plans: Path) -> None:
    """Warm up, then run the specs of each line read from stdin (space-separated): one JSON
    line per spec, in order, then END. Ends at EOF."""
    # Ctrl-C as in a terminal's foreground job, also when this was started in the background
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # pytest builds the long report of an interrupt's traceback (parsing the source of each of
    # its ~40 entries: 0.5 s) and, without --full-trace, prints only its last line: that line
    # comes from the native report as well, at no cost.
    TerminalReporter.pytest_keyboard_interrupt = _interrupt_memo  # type: ignore[method-assign]
    prepare(plans)
    warm = plans / "warm-up"
    warm.mkdir()
    saved = os.getcwd()
    with open(os.devnull, "w", encoding="utf-8") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            run_once(plans, warm, warm, Spec.parse("0"))
        finally:
            sys.stdout = stdout
    os.chdir(saved)
    for name in ("test_plan", "conftest"):
        sys.modules.pop(name, None)  # each run imports its plan afresh
    gc.collect()
    gc.freeze()  # no collection in a child walks the warm process's objects again
    print("READY", flush=True)
    count = 0
    for line in sys.stdin:
        texts = line.split()
        for record in run_all(plans, texts, count):
            print(json.dumps(record), flush=True)
        print("END", flush=True)
        count += len(texts)


def _interrupt_memo(self: TerminalReporter, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    self._keyboardinterrupt_memo = excinfo.getrepr(style="native")


def run_all(plans: Path, texts: list[str], first: int) -> list[dict[str, Any]]:
    """Run the children of `texts` (numbered from `first`); their records, in order."""
    specs = [Spec.parse(text) for text in texts]
    records: list[dict[str, Any]] = []
    index = 0
    while index < len(specs):
        # Timed signals and runs into the shared folder run alone; others two at a time.
        batch = [index]
        while (
            len(batch) < PARALLEL
            and batch[-1] + 1 < len(specs)
            and not any(_alone(specs[i]) for i in (index, batch[-1] + 1))
        ):
            batch.append(batch[-1] + 1)
        folders = {i: plans / f"run{first + i:03d}" for i in batch}
        shared = set((plans / "shared").glob("*.h5"))  # a shared run runs alone
        pids = {i: _start(plans, folders[i], specs[i]) for i in batch}
        for i in batch:
            record = _finish(pids[i], folders[i], specs[i], texts[i])
            results = plans / "shared" if specs[i].shared else folders[i]
            new = sorted(set(results.glob("*.h5")) - shared)
            record["run_files"] = [str(path) for path in new]
            records.append(record)
        index = batch[-1] + 1
    return records


def _alone(spec: Spec) -> bool:
    return spec.after_ms >= 0 or spec.shared


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
