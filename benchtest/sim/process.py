"""`SimulatorProcess`: run the simulated bench in a child process for the length of a `with`.

The child is `python -m benchtest.sim`; the context manager waits for its ready line, reads the
resolved bench file it wrote, and on exit terminates it (SIGTERM, then kill), so no simulator
process outlives the block. If the child dies first, the error carries its stderr. `launch`
and `wait_ready` split the start, for a caller with other work to do while the child starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Self

import yaml

from benchtest.sim.server.service import Service
from benchtest.values.errors import SimulatorError

#: The line the child prints once it serves (`benchtest.sim.serve`); the parent imports no
#: more of the simulator than this module to start it and wait for that line.
READY = "benchtest-sim ready"
TERMINATE_TIMEOUT = 5.0  # s to exit after SIGTERM before it is killed


class SimulatorProcess(Service):
    """`with SimulatorProcess(dut, bench) as sim:` then `sim.resolved_bench`, `sim.bench_path`.

    `serial` picks the simulated unit of the part (empty or None: the typical part).
    """

    def __init__(
        self,
        dut: str | os.PathLike[str],
        bench: str | os.PathLike[str],
        *,
        journal: str | os.PathLike[str] | None = None,
        ready_timeout: float = 30.0,
        extra_args: Sequence[str] = (),
        serial: str | None = None,
    ) -> None:
        self._dut, self._bench_file, self._journal = Path(dut), Path(bench), journal
        self._ready_timeout = ready_timeout
        self._extra_args = list(extra_args)
        self._serial = serial or ""
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self.resolved_bench: dict[str, Any] = {}
        self.returncode: int | None = None  # the child's exit status, once it has been stopped

    @property
    def pid(self) -> int:
        if self._process is None:
            raise SimulatorError("the simulator process is not running")
        return self._process.pid

    @property
    def bench_path(self) -> Path:
        """The resolved bench file written by the child (valid inside the `with`)."""
        if self._workdir is None:
            raise SimulatorError("the simulator process is not running")
        return self._workdir / "bench.yaml"

    def start(self) -> Self:
        """Launch the child and wait until it serves (`launch`, then `wait_ready`)."""
        return self.launch().wait_ready()

    def launch(self) -> Self:
        """Start the child without waiting for it: it imports and builds its simulators while
        the caller goes on; `wait_ready` waits for it before its instruments are used."""
        if self._workdir is not None:
            raise SimulatorError("the simulator process was started already")
        self._workdir = Path(tempfile.mkdtemp(prefix="benchtest-sim-"))
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self) -> Self:
        """Wait for the launched child's ready line and read the bench file it resolved; the
        child is stopped when it exits first or is not ready in time."""
        if self._process is None:
            raise SimulatorError("the simulator process is not running")
        if self.resolved_bench:
            return self
        try:
            self._wait_ready()
            self.resolved_bench = yaml.safe_load(self.bench_path.read_text(encoding="utf-8"))
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self) -> None:
        command = [sys.executable, "-m", "benchtest.sim", "--dut", str(self._dut)]
        command += ["--bench", str(self._bench_file), "--write-bench", str(self.bench_path)]
        if self._journal is not None:
            command += ["--journal", str(self._journal)]
        if self._serial:
            command += ["--serial", self._serial]
        # numpy's OpenBLAS would start a spinning thread per core at import (~50 ms of CPU,
        # taken from the tests on a multi-site bench); the models do no large linear algebra.
        env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
        with open(self._stderr_path, "wb") as stderr:
            self._process = subprocess.Popen(
                command + self._extra_args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._read_stdout, args=(self._process.stdout,), name="sim-stdout", daemon=True
        )
        self._reader.start()

    def _read_stdout(self, stdout: IO[bytes]) -> None:
        """Watch for the ready line, then keep draining so the child never blocks on stdout."""
        for line in stdout:
            if line.decode(errors="replace").strip() == READY:
                self._ready.set()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._ready_timeout
        while not self._ready.wait(0.05):
            if self._process.poll() is not None:
                raise SimulatorError(
                    f"the simulator exited with status {self._process.returncode} before it was "
                    f"ready: {self._stderr()}"
                )
            if time.monotonic() > deadline:
                raise SimulatorError(
                    f"the simulator was not ready within {self._ready_timeout:g} s: "
                    + self._stderr()
                )

    def stop(self) -> None:
        """Terminate the child (SIGTERM, wait, then kill), join the reader, remove temp files."""
        process, self._process = self._process, None
        if process is not None:
            self.returncode = _terminate(process)
        if self._reader is not None:
            self._reader.join()
            self._reader = None
        if process is not None:
            _close_pipes(process)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def _stderr_path(self) -> Path:
        assert self._workdir is not None
        return self._workdir / "stderr.txt"

    def _stderr(self) -> str:
        text = self._stderr_path.read_text(encoding="utf-8", errors="replace").strip()
        return text[-2000:] or "(nothing on stderr)"


def _terminate(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, wait, then SIGKILL; the exit status (negative: killed by that signal)."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(TERMINATE_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    if process.stdout is not None:
        process.stdout.close()
