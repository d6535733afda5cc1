"""`benchtest publish` into a real PostgreSQL catalog: bench hosts at once, kills, lost servers.

Two bench hosts are two processes, each running a plan on its own simulated bench and then
publishing its runs (last night's and tonight's) into one catalog at the same time. A
publisher is caught inside its transaction by a table lock the test holds, then killed (or
its server connection cut): nothing of that run may be stored, and publishing again must store
it exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from test_lab_catalog import write_run

from benchtest.cli.commands import main
from benchtest.results import open_run
from benchtest.results.lab_catalog import redact
from benchtest.results.lab_postgres import PostgresCatalog, file_sha256

REPO = Path(__file__).resolve().parent.parent
PLAN = """
import pytest

@pytest.mark.requires("smu")
@pytest.mark.parametrize("vin", [3.28, 3.30, 3.32])
def test_vout(vin, smu, measure):
    smu.source_voltage(vin, current_limit=0.01)
    smu.output_on()
    measure("vout", smu.measure_voltage())
"""


def _benchtest(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "benchtest.cli", *args]


def _host(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A bench host's folder, bench file (station `name`) and last night's run file."""
    folder = tmp_path / name
    folder.mkdir()
    text = (REPO / "benches" / "sim.yaml").read_text(encoding="utf-8")
    bench = folder / "bench.yaml"
    bench.write_text(text.replace("station: sim", f"station: {name}"), encoding="utf-8")
    last_night = folder / "results" / f"{name}-last-night.h5"
    write_run(last_night, f"{name}-1", "2026-12-01T22:00:00+00:00", 2e-6, station=name)
    return folder, bench


def _waiting_publishers(url: str) -> list[int]:
    """The server processes of the benchtest publishers that wait for a lock (read in a
    transaction of its own: inside one, PostgreSQL shows the same activity every time)."""
    with psycopg.connect(url, autocommit=True) as watch:
        rows = watch.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'benchtest' "
            "AND wait_event_type = 'Lock'"
        ).fetchall()
    return [int(pid) for (pid,) in rows]


def _wait(condition: object, what: str, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 60
    while not condition():  # type: ignore[operator]
        assert process is None or process.poll() is None, f"{what}: the publisher ended"
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`benchtest ARGS` in this process: exit status, standard output and error."""
    try:
        status = main(list(args))
    except SystemExit as exc:  # a usage error, as argparse ends it
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def _measurements_in(paths: list[Path]) -> int:
    count = 0
    for path in paths:
        with open_run(path) as run:
            count += len(run.measurements)
    return count


def test_two_bench_hosts_publish_at_once_and_a_killed_publish_loses_nothing(
    tmp_path: Path,
    lab_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = tmp_path / "test_nightly.py"
    plan.write_text(PLAN, encoding="utf-8")
    hosts = {name: _host(tmp_path, name) for name in ("bench-a", "bench-b")}
    dut = str(REPO / "dut_profiles" / "bt_ldo33.yaml")
    nights = [
        subprocess.Popen(
            _benchtest(
                "run",
                str(plan),
                "--sim",
                "--bench",
                str(bench),
                "--dut",
                dut,
                "--results-dir",
                str(folder / "results"),
                "--serial-number",
                f"{name}-2",
                "-p",
                "no:cacheprovider",
                "-q",
            ),
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, (folder, bench) in hosts.items()
    ]
    for night in nights:
        output, _ = night.communicate(timeout=180)
        assert night.returncode == 0, output
    files = {name: sorted((folder / "results").glob("*.h5")) for name, (folder, _) in hosts.items()}
    assert all(len(runs) == 2 for runs in files.values())
    PostgresCatalog(lab_url).close()  # the layout exists before the test locks a table of it
    env = {**os.environ, "BENCHTEST_CATALOG": lab_url}

    with psycopg.connect(lab_url, autocommit=True) as admin:
        # Host b's publisher is caught inside its first transaction and killed there, while
        # host a publishes at the same time and waits for the same lock.
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE measurements IN EXCLUSIVE MODE")
        publishers = {
            name: subprocess.Popen(
                _benchtest("publish", *map(str, runs)),
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            for name, runs in files.items()
        }
        _wait(lambda: len(_waiting_publishers(lab_url)) == 2, "both publishers wait")
        os.killpg(publishers["bench-b"].pid, signal.SIGKILL)
        publishers["bench-b"].communicate(timeout=60)
        admin.execute("ROLLBACK")  # the lock goes: host a goes on, host b's transaction ends
        out, err = publishers["bench-a"].communicate(timeout=120)
        assert publishers["bench-a"].returncode == 0, err
        assert out.count("published to") == 2
        _wait(lambda: not _waiting_publishers(lab_url), "the killed publisher's session ends")
        stored = admin.execute("SELECT station, count(*) FROM runs GROUP BY 1").fetchall()
        assert stored == [("bench-a", 2)]  # nothing of host b's run is half-stored

    status, _, err = _main(capsys, "publish", *map(str, files["bench-b"]), "--catalog", lab_url)
    assert status == 0, err
    every = files["bench-a"] + files["bench-b"]
    status, out, _ = _main(capsys, "publish", *map(str, every), "--catalog", lab_url)
    assert status == 0 and out.count("already published") == 4

    with PostgresCatalog(lab_url) as lab:
        assert len(lab) == 4
        history = [(n.bench, n.night, n.readings) for n in lab.nightly("iq")]
        assert history == [("bench-a", "2026-12-01", 1), ("bench-b", "2026-12-01", 1)]
        tonight = lab.nightly("vout", part="BT-LDO33")
        assert [(n.bench, n.readings, n.failed) for n in tonight] == [
            ("bench-a", 3, 0), ("bench-b", 3, 0),
        ]  # fmt: skip
        assert tonight[0].night == tonight[1].night > "2026-12-01"  # both nights are seen
    with psycopg.connect(lab_url) as db:
        runs = db.execute("SELECT run_id, count(*) FROM runs GROUP BY 1").fetchall()
        assert len(runs) == 4 and {count for _, count in runs} == {1}
        stored = db.execute("SELECT count(*) FROM measurements").fetchone()
        assert stored == (_measurements_in(every),)


def test_a_server_that_goes_away_mid_publish_leaves_the_run_file_to_publish_later(
    tmp_path: Path,
    lab_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = [
        write_run(tmp_path / f"{name}.h5", name, "2026-12-02T21:00:00+00:00", 1e-6)
        for name in ("first", "second")
    ]
    before = [file_sha256(path) for path in runs]
    PostgresCatalog(lab_url).close()
    env = {**os.environ, "BENCHTEST_CATALOG": lab_url}
    with psycopg.connect(lab_url, autocommit=True) as admin:
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE measurements IN EXCLUSIVE MODE")
        publisher = subprocess.Popen(
            _benchtest("publish", *map(str, runs)), env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _wait(lambda: _waiting_publishers(lab_url), "the publisher waits", publisher)
        (pid,) = _waiting_publishers(lab_url)
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out, err = publisher.communicate(timeout=60)
        admin.execute("ROLLBACK")
    assert publisher.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(
        f"benchtest publish: {runs[0]}: not published: the lab catalog {redact(lab_url)} failed:"
    )
    assert lines[0].endswith(f"publish it again (benchtest publish {runs[0]})")
    assert lines[1] == f"benchtest publish: not published either: {runs[1]}"
    assert lab_url.split(":")[2].split("@")[0] not in out + err  # the password
    assert [file_sha256(path) for path in runs] == before  # the run files are as they were
    status, _, err = _main(capsys, "publish", *map(str, runs), "--catalog", lab_url)
    assert status == 0, err
    with PostgresCatalog(lab_url) as lab:
        assert len(lab) == 2


def test_publish_without_a_reachable_catalog_gets_one_clear_message(
    tmp_path: Path,
    lab_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = write_run(tmp_path / "run.h5", "SN1", "2026-12-02T21:00:00+00:00", 1e-6)
    monkeypatch.delenv("BENCHTEST_CATALOG", raising=False)
    password = lab_url.split(":")[2].split("@")[0]
    closed = lab_url.rsplit(":", 1)[0] + ":1/lab"
    for args, expected in (
        ((), "benchtest publish: no lab catalog given: pass --catalog postgresql://HOST/DB or "
             "set BENCHTEST_CATALOG"),
        (("--catalog", closed), f"benchtest publish: {redact(closed)}: cannot connect to the "
                                "lab catalog: "),
        (("--catalog", str(tmp_path)), f"benchtest publish: {tmp_path}: publish needs a "
                                       "PostgreSQL URL"),
    ):  # fmt: skip
        status, out, err = _main(capsys, "publish", str(run), *args)
        assert status == 2, err
        assert err.startswith(expected), err
        assert len(err.strip().splitlines()) == 1 and password not in err
    killed = tmp_path / "killed.h5"
    killed.write_bytes(run.read_bytes()[:4096])
    status, out, err = _main(capsys, "publish", str(killed), str(run), "--catalog", lab_url)
    assert status == 1
    assert err.startswith("benchtest publish: not published: ") and str(killed) in err
    assert f"{run}: published to {redact(lab_url)}" in out


def test_lab_history_and_baselines_from_the_command_line(
    tmp_path: Path,
    lab_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = write_run(tmp_path / "run.h5", "SN1", "2026-12-02T21:00:00+00:00", 1e-6, station="b7")
    monkeypatch.setenv("BENCHTEST_CATALOG", lab_url)
    monkeypatch.setenv("COLUMNS", "200")
    assert _main(capsys, "lab", "migrate") == (
        0, f"{redact(lab_url)}: migrated from version 0 to 2\n", ""
    )  # fmt: skip
    assert _main(capsys, "lab", "migrate")[1].endswith("at version 2, nothing to migrate\n")
    status, _, err = _main(capsys, "lab", "promote", str(run), "--name", "golden")
    assert status == 2 and "not published in the lab catalog" in err
    assert _main(capsys, "publish", str(run))[0] == 0
    status, out, _ = _main(capsys, "lab", "promote", str(run), "--name", "golden", "--note", "1st")
    assert status == 0 and "is now the baseline 'golden'" in out
    _, listed, _ = _main(capsys, "lab", "baselines")
    assert "golden" in listed and "run.h5" in listed and "1st" in listed
    assert _main(capsys, "lab", "baselines", "--name", "silver") == (
        2, "", f"benchtest lab: no baseline called 'silver' in the lab catalog {redact(lab_url)} "
               "(known: golden)\n",
    )  # fmt: skip
    status, out, _ = _main(capsys, "lab", "history", "iq", "--bench", "b7", "--since", "2026-12-01")
    assert status == 0
    assert ["LDO-3V3", "b7", "2026-12-02", "1", "1e-06", "1e-06", "1e-06", "0"] in [
        [word for word in line.split() if word not in "│┃"] for line in out.splitlines()
    ]
    status, _, err = _main(capsys, "lab", "history", "iq", "--since", "yesterday")
    assert status == 2 and "expected an ISO date or time" in err


def test_a_run_publishes_its_run_file_at_the_end_or_says_how_to_later(
    tmp_path: Path,
    lab_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = tmp_path / "test_nightly.py"
    plan.write_text(PLAN, encoding="utf-8")
    dut = str(REPO / "dut_profiles" / "bt_ldo33.yaml")
    password = lab_url.split(":")[2].split("@")[0]
    closed = lab_url.rsplit(":", 1)[0] + ":1/lab"
    env = {**os.environ, "BENCHTEST_CATALOG": closed}  # --catalog wins over the environment
    for results, catalog in (("published", lab_url), ("unreachable", closed)):
        done = subprocess.run(
            _benchtest("run", str(plan), "--sim", "--dut", dut, "--results-dir",
                       str(tmp_path / results), "--catalog", catalog, "-p", "no:cacheprovider"),
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr  # the tests' verdict, unchanged
        (run,) = (tmp_path / results).glob("*.h5")
        lines = [line for line in done.stdout.splitlines() if line.startswith(f"{run}: ")]
        assert len(lines) == 1, done.stdout
        assert password not in done.stdout + done.stderr
        assert password.encode() not in run.read_bytes()  # nor in the run file
        if catalog == lab_url:
            assert lines[0].startswith(f"{run}: published to {redact(lab_url)} (run ")
        else:
            assert lines[0].startswith(
                f"{run}: not published: {redact(closed)}: cannot connect to the lab catalog"
            )
            assert lines[0].endswith(f"publish it later with `benchtest publish {run}`")
            status, _, err = _main(capsys, "publish", str(run), "--catalog", lab_url)
            assert status == 0, err
    with PostgresCatalog(lab_url) as lab:
        assert len(lab) == 2
        assert [n.readings for n in lab.nightly("vout")] == [6]


def test_a_bench_file_names_its_lab_catalog_and_the_password_stays_out(
    tmp_path: Path, lab_url: str
) -> None:
    """`catalog:` in the bench file publishes without --catalog; its password comes from
    PGPASSWORD, since the bench file (copied into the run file) may not hold one."""
    plan = tmp_path / "test_nightly.py"
    plan.write_text(PLAN, encoding="utf-8")
    user_password, _, host = lab_url.split("://", 1)[1].rpartition("@")
    user, _, password = user_password.partition(":")
    bench = tmp_path / "bench.yaml"
    text = (REPO / "benches" / "sim.yaml").read_text(encoding="utf-8")
    bench.write_text(f"{text}\ncatalog: postgresql://{user}@{host}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "BENCHTEST_CATALOG"}
    env["PGPASSWORD"] = password
    done = subprocess.run(
        _benchtest("run", str(plan), "--sim", "--bench", str(bench), "--dut",
                   str(REPO / "dut_profiles" / "bt_ldo33.yaml"), "--results-dir",
                   str(tmp_path / "results"), "-p", "no:cacheprovider"),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = (tmp_path / "results").glob("*.h5")
    assert f"{run}: published to " in done.stdout
    assert password not in done.stdout + done.stderr
    assert password.encode() not in run.read_bytes()
    with PostgresCatalog(lab_url) as lab:
        assert len(lab) == 1

    # A password in the bench file is refused before anything runs, naming the field.
    bench.write_text(f"{text}\ncatalog: postgresql://{user}:{password}@{host}\n", encoding="utf-8")
    refused = subprocess.run(
        _benchtest("run", str(plan), "--sim", "--bench", str(bench), "-p", "no:cacheprovider"),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "catalog" in refused.stdout + refused.stderr
    assert "PGPASSWORD" in refused.stdout + refused.stderr
    assert password not in refused.stdout + refused.stderr
