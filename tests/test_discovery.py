"""`benchtest scan` and `benchtest check`: find instruments, talk to every role of a bench."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from benchtest import ConfigError
from benchtest.cli.commands import main
from benchtest.cli.discovery import check_bench, scan
from benchtest.sim.bench import SimulatedBench

REPO = Path(__file__).resolve().parent.parent
DUT = REPO / "dut_profiles" / "bt_ldo33.yaml"


@pytest.fixture
def served_bench(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The simulated bench in this process, and a bench file pointing at it."""
    profile = yaml.safe_load(DUT.read_text(encoding="utf-8"))
    bench = yaml.safe_load((REPO / "benches" / "sim.yaml").read_text(encoding="utf-8"))
    with SimulatedBench(profile, bench) as simulated:
        resolved = simulated.resolved_bench()
        resolved["instruments"]["smu"]["calibration_due"] = "2020-01-31"
        path = tmp_path / "bench.yaml"
        path.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
        yield path, {r: s["resource"] for r, s in resolved["instruments"].items()}


def test_check_talks_to_every_role_and_warns_about_calibration(
    served_bench: tuple[Path, dict[str, str]],
) -> None:
    path, _ = served_bench
    bench, results = check_bench(path, DUT, today=dt.date(2026, 11, 28))
    assert (
        [r.role for r in results]
        == list(bench.roles)
        == ["smu", "scope", "uart", "psu", "dmm", "load", "profiler", "chamber"]
    )
    assert all(r.ok for r in results), results
    by_role = {r.role: r for r in results}
    assert "MODEL 2450" in by_role["smu"].identity
    assert "DS1104Z" in by_role["scope"].identity
    assert "BT-LDO33" in by_role["uart"].identity
    assert by_role["smu"].warning == "calibration was due on 2020-01-31"
    assert by_role["scope"].warning == ""


def test_check_reports_an_unreachable_instrument_and_goes_on(
    served_bench: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, _ = served_bench
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["instruments"]["scope"]["resource"] = "TCPIP::127.0.0.1::1::SOCKET"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data), encoding="utf-8")
    _, results = check_bench(broken, DUT)
    by_role = {r.role: r for r in results}
    assert not by_role["scope"].ok and "[scope]" in by_role["scope"].problem
    assert by_role["smu"].ok and by_role["uart"].ok


def test_check_of_simulated_roles_without_sim_says_what_to_do() -> None:
    _, results = check_bench(REPO / "benches" / "sim.yaml")
    assert all("check it with --sim" in r.problem for r in results)


def test_check_command_with_sim_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(REPO / "benches" / "sim.yaml"), "--sim"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok  ") == 8 and "MODEL 2450" in out and "ATS-545" in out
    assert "SIMULATED CURRENT PROFILER" in out


def test_check_command_rejects_a_bad_bench_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\ninstruments: {smu: {driver: acme.zap, resource: x}}\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml: instruments.smu.driver: unknown driver 'acme.zap'" in err
    with pytest.raises(ConfigError):
        check_bench(bad)


def test_scan_identifies_raw_sockets(served_bench: tuple[Path, dict[str, str]]) -> None:
    _, resources = served_bench
    port = resources["smu"].split("::")[2]
    found = scan(sockets=[f"127.0.0.1:{port}", "127.0.0.1:1"], timeout=0.5)
    visa = {f.resource: f for f in found if f.kind == "visa"}
    assert "MODEL 2450" in visa[f"TCPIP::127.0.0.1::{port}::SOCKET"].identity
    assert visa["TCPIP::127.0.0.1::1::SOCKET"].problem
    assert all(f.kind in ("visa", "serial") for f in found)


def test_scan_rejects_a_malformed_socket_address() -> None:
    with pytest.raises(ValueError, match=r"expected HOST:PORT, got .127\.0\.0\.1."):
        scan(sockets=["127.0.0.1"])
