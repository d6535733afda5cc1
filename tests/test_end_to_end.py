"""The whole path: plan, plugin, drivers, simulated bench, HDF5 run file read back with h5py."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from silx.io.nxdata import get_default, is_valid_nxdata

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "test_plans" / "ldo" / "test_ldo_basics.py"


def run_plan(
    pytester: pytest.Pytester, profile_text: str, *extra: str, new_process: bool = False
) -> tuple[pytest.RunResult, Path]:
    """Run the LDO basics plan with --sim: in this process, or in a new one as a user runs it."""
    pytester.makefile(".yaml", ldo=profile_text)
    pytester.makepyfile(test_ldo_basics=PLAN.read_text(encoding="utf-8"))
    results = pytester.path / "results"
    run = pytester.runpytest_subprocess if new_process else pytester.runpytest_inprocess
    result = run(
        "--sim",
        "--dut",
        "ldo.yaml",
        "--results-dir",
        str(results),
        "-p",
        "no:cacheprovider",
        *extra,
    )
    files = sorted(results.glob("*.h5"))
    assert len(files) <= 1
    return result, files[0] if files else results / "missing.h5"


def measurements(path: Path) -> dict[str, float]:
    with h5py.File(path, "r") as f:
        table = f["summary/measurements"][()]
        return {row["name"].decode(): float(row["value"]) for row in table}


def test_plan_on_simulated_bench_writes_a_plottable_run_file(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    result, path = run_plan(
        pytester, ldo_profile_text, "--serial-number", "U0001", new_process=True
    )
    result.assert_outcomes(passed=3)
    assert path.name.endswith("_BT-LDO33_U0001.h5")
    values = measurements(path)
    assert values["iq_active"] == pytest.approx(45e-6, rel=0.03)
    assert values["iq_sleep"] == pytest.approx(1.2e-6, rel=0.03)
    assert values["vout"] == pytest.approx(3.3, abs=0.05)
    # first-order ramp with tau = 80 us: 10-90 % in tau * ln 9
    assert values["t_startup"] == pytest.approx(80e-6 * np.log(9), rel=0.15)
    with h5py.File(path, "r") as f:
        nxdata = get_default(f)
        assert nxdata is not None, "root @default chain must reach an NXdata group"
        default = nxdata.group
        assert is_valid_nxdata(default), nxdata.issues
        assert default.parent.attrs["test_id"].endswith("test_startup_ramp")
        signal = default[default.attrs["signal"]]
        time = default["time"]
        assert signal.attrs["units"] == "V" and time.attrs["units"] == "s"
        assert signal.shape == time.shape and signal.shape[0] >= 1000
        assert f.attrs["serial_number"] == "U0001"
        assert "BT-LDO33" in f["run_info/dut_profile"][()].decode()
        identities = " ".join(row["identity"].decode() for row in f["run_info/instruments"][()])
        assert "MODEL 2450" in identities and "DS1104Z" in identities and "BT-LDO33" in identities


def test_measured_quiescent_current_follows_the_profile_model(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    changed = ldo_profile_text.replace(
        "  iq_sleep: 1.2e-6       # A", "  iq_sleep: 1.6e-6       # A"
    )
    assert changed != ldo_profile_text
    result, path = run_plan(pytester, changed, "-k", "quiescent")
    result.assert_outcomes(passed=2, deselected=1)
    assert measurements(path)["iq_sleep"] == pytest.approx(1.6e-6, rel=0.03)


def test_out_of_limit_part_fails_with_value_limit_and_unit(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    broken = ldo_profile_text.replace(
        "  iq_sleep: 1.2e-6       # A", "  iq_sleep: 3.0e-6       # A"
    )
    result, path = run_plan(pytester, broken, "-k", "quiescent")
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*iq_sleep = *e-06 A is above the high limit 2e-06 A*",
            "*= 1 parameter(s) out of limits =*",
            "test*parameter*value*limit*unit",
            "test_quiescent_current?sleep?*iq_sleep*e-06*<= 2e-06*A",
        ]
    )
    with h5py.File(path, "r") as f:
        outcomes = {
            row["name"].decode(): row["outcome"].decode() for row in f["summary/measurements"][()]
        }
    assert outcomes == {"iq_active": "pass", "iq_sleep": "fail"}


@pytest.fixture
def listener() -> tuple[int, list[socket.socket]]:
    """A TCP port that records every connection made to it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()
    for conn in accepted:
        conn.close()


def test_malformed_bench_stops_before_any_instrument_is_touched(
    pytester: pytest.Pytester, ldo_profile_text: str, listener: tuple[int, list[socket.socket]]
) -> None:
    port, accepted = listener
    pytester.makefile(
        ".yaml",
        ldo=ldo_profile_text,
        bench=f"""
schema_version: 1
instruments:
  smu: {{driver: keithley.k2450, resource: "TCPIP::127.0.0.1::{port}::SOCKET"}}
  scope: {{driver: rigol.ds1000z, resource: "TCPIP::127.0.0.1::{port}::SOCKET", options: 3}}
""",
    )
    pytester.makepyfile(test_ldo_basics=PLAN.read_text(encoding="utf-8"))
    result = pytester.runpytest_inprocess(
        "--bench", "bench.yaml", "--dut", "ldo.yaml", "--results-dir", "results"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "benchtest:" in line]
    assert len(errors) == 1
    assert (
        "bench.yaml: instruments.scope.options: expected a mapping of driver options, got 3"
        in errors[0]
    )
    assert accepted == []
    assert not (pytester.path / "results").exists()


def test_malformed_dut_profile_is_named(pytester: pytest.Pytester, ldo_profile_text: str) -> None:
    pytester.makefile(
        ".yaml",
        ldo=ldo_profile_text.replace("unit: V\n    min: 3.234", "unit: volt\n    min: 3.234"),
    )
    pytester.makepyfile(test_ldo_basics=PLAN.read_text(encoding="utf-8"))
    result = pytester.runpytest_inprocess("--sim", "--dut", "ldo.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ['*ldo.yaml: parameters.vout.unit: expected an SI unit*got "volt"*']
    )


def test_plugin_is_inert_without_bench_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "run file" not in result.stdout.str()
