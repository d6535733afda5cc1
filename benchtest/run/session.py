"""One DUT on the bench for a stretch of tests: its simulated bench, instruments and run file.

A `DutSession` starts what testing one part needs — the simulators of the bench's `sim://`
roles (when simulating), the run file and its recorder, the instrument pool — and closes it
all in reverse order: instruments safe and closed, run finished and committed, simulators
stopped. The pytest plugin opens one per DUT profile as the plans move from part to part.
The run file records which plans ran (`benchtest.run.plans`) and, at the end, the outcome of
its own tests with how many were skipped and why.
"""

from __future__ import annotations

import platform
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from benchtest.__about__ import __version__
from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.run.instrument_pool import InstrumentPool
from benchtest.run.plans import PlanIdentity, python_files
from benchtest.run.recorder import RunRecorder
from benchtest.run.safe_states import UnsafeRoles
from benchtest.run.tally import OutcomeTally
from benchtest.values import stops
from benchtest.values.errors import ResultFileError
from benchtest.values.events import (
    ConfigSnapshot,
    RunFinished,
    RunStarted,
    SafeStateApplied,
    TestFinished,
    utc_now,
)

if TYPE_CHECKING:
    from benchtest.run.measuring import ProfileLimits
    from benchtest.run.resume import Resumption
    from benchtest.storage.hdf5_writer import Hdf5RunWriter


@dataclass(frozen=True)
class RunInfo:
    """Who and what a run is, beyond the bench and the part: recorded in every run file."""

    results_dir: Path
    serial_number: str = ""
    lot: str = ""
    operator: str = ""
    site: str = ""
    plans_root: Path | None = None
    # The plan files that ran (test modules, their conftests, helpers they import); none
    # given: every .py file under `plans_root`.
    plan_files: tuple[Path, ...] = ()
    # A killed run this one resumes: its header is taken, its finished tests replayed first.
    resume: Resumption | None = None


class LaunchedSimulator:
    """The simulated bench of a DUT session, launched ahead of the session: the child process
    starts (imports, builds its simulators) while pytest collects and xdist waits for the
    other sites, and the session waits for it only when it starts. `stop()` ends it when no
    session took it."""

    def __init__(self, bench: Bench, dut: DutProfile, serial: str) -> None:
        from benchtest.sim.process import SimulatorProcess

        self.bench, self.dut, self.serial = bench, dut, serial
        # The bench as this process sees it (one site and the shared roles): each site gets
        # its own simulated part; a shared role gets a simulator per site, used under the
        # same claim as the real shared instrument would be.
        self.folder = Path(tempfile.mkdtemp(prefix="benchtest-sim-"))
        try:
            bench_file = self.folder / "bench.yaml"
            bench_file.write_text(bench.to_yaml(), encoding="utf-8")
            self.process = SimulatorProcess(dut=dut.path, bench=bench_file, serial=serial)
            self.process.launch()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def serves(self, bench: Bench, dut: DutProfile, serial: str) -> bool:
        """Whether this simulator is the one a session of `dut` on `bench` would launch."""
        return self.bench is bench and self.dut.path == dut.path and self.serial == serial

    def stop(self) -> None:
        """Stop the child and remove its folder; idempotent."""
        try:
            self.process.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class DutSession:
    """The simulators, instruments, recorder and run file of one DUT; `start()` then `close()`.

    `simulator`: the simulated bench launched ahead (`LaunchedSimulator`), taken when it is
    the one this session needs, else stopped."""

    def __init__(
        self,
        bench: Bench,
        dut: DutProfile,
        info: RunInfo,
        *,
        simulate: bool,
        simulator: LaunchedSimulator | None = None,
    ) -> None:
        self.bench = bench
        self.dut = dut
        self.info = info
        self.simulate = simulate
        self.recorder = RunRecorder()
        self.tally = OutcomeTally()
        self.recorder.subscribe(self.tally, TestFinished)  # the only events it counts
        self.unsafe = UnsafeRoles()  # for the end of the run: which instrument may be on
        self.recorder.subscribe(self.unsafe, SafeStateApplied)
        self.outcome = ""  # the run file's outcome, once closed
        self.run_file: Path | None = None
        self.pool: InstrumentPool | None = None
        # The DUT profile's limits of each parameter measured, shared by the tests' `Measure`.
        self.profile_limits: ProfileLimits = {}
        self._launched = simulator
        self._simulator: LaunchedSimulator | None = None
        self._writer: Hdf5RunWriter | None = None
        self._closed = False

    def start(self) -> DutSession:
        try:
            if self.simulate and self.bench.simulated_roles:
                self._start_simulator()
            self._drop_launched()  # not simulating
            self._open_run_file()
            self.pool = InstrumentPool(self.bench, self.dut, self.recorder.emit)
        except BaseException as exc:
            self.close("interrupted" if isinstance(exc, KeyboardInterrupt) else "error")
            raise
        return self

    def close(self, outcome: str) -> None:
        """Instruments safe and closed, the run finished, simulators stopped; idempotent. A
        stop signal meanwhile is raised once all of it is done, the run then interrupted."""
        with stops.held:
            self._close(outcome)

    def _close(self, outcome: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._drop_launched()  # closed before it started
        try:
            if self.pool is not None:
                self.pool.close()
        except KeyboardInterrupt:  # Ctrl-C or a stop signal while the bench was made safe
            outcome = "interrupted"
            raise
        finally:
            try:
                self.outcome = self.tally.outcome("interrupted" if stops.pending() else outcome)
                if self._writer is not None and self._writer.path.exists():  # RunStarted stored
                    try:
                        skipped, reasons = self.tally.skipped, self.tally.skip_reasons
                        self.recorder.emit(RunFinished(utc_now(), self.outcome, skipped, reasons))
                    finally:
                        self._writer.close()
            finally:
                if self._simulator is not None:
                    self._simulator.stop()

    def _start_simulator(self) -> None:
        """Take the simulator launched ahead when it is this session's (else stop it and
        launch one), and wait until it serves."""
        serial, launched = self.info.serial_number, self._launched
        if launched is not None and launched.serves(self.bench, self.dut, serial):
            self._simulator, self._launched = launched, None
        else:
            self._drop_launched()
            self._simulator = LaunchedSimulator(self.bench, self.dut, serial)
        process = self._simulator.process.wait_ready()
        resolved = process.resolved_bench["instruments"]
        self.bench = self.bench.with_resources(
            {role: resolved[role]["resource"] for role in self.bench.simulated_roles}
        )

    def _drop_launched(self) -> None:
        """Stop the simulator launched ahead, if the session has not taken it."""
        launched, self._launched = self._launched, None
        if launched is not None:
            launched.stop()

    def _open_run_file(self) -> None:
        from benchtest.storage.hdf5_writer import Hdf5RunWriter

        resume = self.info.resume
        plans = self._plans()
        if resume is not None:  # checked before the new run file exists
            plans = _resumed_plans(resume, plans, self.dut)
        started = datetime.fromisoformat(resume.point.start_time) if resume else datetime.now(UTC)
        path = self._run_path(started)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = Hdf5RunWriter(path, attributes=resume.point.attributes if resume else None)
        self.run_file = path
        self.recorder.subscribe(self._writer)
        self.recorder.emit(
            RunStarted(
                run_id=uuid.uuid4().hex,
                started=started.isoformat(),
                framework_version=__version__,
                bench=ConfigSnapshot(str(self.bench.path), self.bench.text, self.bench.sha256),
                dut=ConfigSnapshot(str(self.dut.path), self.dut.text, self.dut.sha256),
                part=self.dut.name,
                serial_number=self.info.serial_number,
                lot=self.info.lot,
                operator=self.info.operator,
                station=self.bench.station,
                host=platform.node(),
                plans_commit=plans.commit,
                plans_dirty=plans.dirty,
                site=self.info.site,
                plans_root=plans.root,
                plans_sha256=plans.sha256,
                plans_manifest=plans.manifest,
            )
        )
        if resume is not None:
            from benchtest.run.resume import replay, retire

            writer = self._writer
            emit, store = self.recorder.emit, writer.handle
            replay(resume.point, resume.test_ids, emit, store, writer.codec.name)
            writer.commit()
            retire(resume.point)

    @property
    def run_file_failure(self) -> ResultFileError | None:
        """Why the run file stopped taking events (a full disk), if it did: the run should
        stop, and the file keeps the tests finished before."""
        return self._writer.failure if self._writer is not None else None

    @property
    def summary(self) -> str:
        """What the tests came to: "passed", or "passed, 3 skipped: <reasons>"."""
        return self.tally.summary(self.outcome or self.tally.outcome("passed"))

    def _plans(self) -> PlanIdentity:
        root = self.info.plans_root
        if root is None:
            return PlanIdentity()
        return PlanIdentity.of(root, self.info.plan_files or python_files(root))

    def _run_path(self, started: datetime) -> Path:
        unit = f"_{self.info.serial_number}" if self.info.serial_number else ""
        unit += f"_site-{self.info.site}" if self.info.site else ""
        return new_run_path(self.info.results_dir, started, f"{self.dut.name}{unit}")


def _resumed_plans(resume: Resumption, now: PlanIdentity, dut: DutProfile) -> PlanIdentity:
    """The plans of a resumed run: the killed run's, once the DUT profile and every plan
    file that runs now are found unchanged."""
    from benchtest.run.resume import check_plans, check_profile

    check_profile(resume.point, dut.name, dut.sha256)
    check_plans(resume.point, now.manifest)
    point = resume.point
    return PlanIdentity(
        commit=point.plans_commit, dirty=point.plans_dirty, root=point.plans_root,
        sha256=point.plans_sha256, manifest=point.plans_manifest,
    )  # fmt: skip


def new_run_path(results_dir: Path, started: datetime, name: str) -> Path:
    """A run file path in `results_dir` that does not exist yet: `<UTC stamp>_<name>.h5`
    (sanitised), with `_2`, `_3`, ... added when it is taken."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{started:%Y%m%dT%H%M%SZ}_{name}")
    path = results_dir / f"{stem}.h5"
    counter = 1
    while path.exists():
        counter += 1
        path = results_dir / f"{stem}_{counter}.h5"
    return path
