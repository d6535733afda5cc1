"""Lab catalog benchmark: the lab's history of a parameter at 100 000 runs, in PostgreSQL.

A throw-away PostgreSQL server (the distribution's packages, as the tests use; or the server
`--catalog URL` names, whose database must be empty) gets the lab catalog's layout through its
migrations, then 100 000 synthetic runs bulk-loaded with COPY: 3 parts on 8 benches over 365
nights, 2 tests and 8 measurements each (800 000 measurement rows). Then
`PostgresCatalog.nightly` is timed, the query a lab asks every morning: one parameter by part,
bench and night, over the whole history and for one part on one bench. The time includes the
query, fetching the rows and making `NightlyValues` of them.

Target: < 1 s for the whole history (absolute: no other catalog to compare with). As a
reference beside it, the same queries with PostgreSQL's index scans turned off, interleaved in
pairs, show what the layout's index contributes. `--quick` loads 2 000 runs.

Run: python benchmarks/bench_lab_catalog.py [--runs N] [--catalog URL] [--quick].
Exits 1 when the target is missed.
"""

from __future__ import annotations

import io
import json
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import targets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pg_server import NoServer, throwaway_server  # the server the tests start

from benchtest.results.lab_postgres import PostgresCatalog

PARTS = ("BT-LDO33", "BT-MCU1", "BT-SNS2")
BENCHES = tuple(f"bench-{k}" for k in range(1, 9))
FIRST_NIGHT = 1_767_297_600.0  # 2026-01-01T20:00:00Z
#: The parameters each of the two tests measures (name, unit, typical value).
PARAMETERS = (
    (("iq", "A", 1e-6), ("iq_sleep", "A", 2e-7), ("vout", "V", 3.3), ("ripple", "V", 0.01)),
    (("t_startup", "s", 2e-4), ("t_rise", "s", 5e-5), ("overshoot", "V", 0.05),
     ("t_settle", "s", 1e-4)),
)  # fmt: skip
TESTS = ("plans/test_power.py::test_supply", "plans/test_timing.py::test_startup")


def _copy_text(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def load(url: str, runs: int) -> float:
    """Bulk-load `runs` synthetic runs with COPY; the seconds it took (indexes included)."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(url) as db, db.cursor() as cursor:
        run_rows, test_rows, value_rows = [], [], []
        for i in range(1, runs + 1):
            part, bench = PARTS[i % len(PARTS)], BENCHES[(i // 3) % len(BENCHES)]
            begun = FIRST_NIGHT + (i % 365) * 86400.0 + (i // 365) * 0.3
            serial = f"SN{i % 200:04d}"
            run_rows.append(
                f"{i}\trun{i:06d}\t{i:064x}\trun{i:06d}.h5\thost{i % 8}\t{part}\t{serial}\tL1\t"
                f"{bench}\tlab\t{begun}\t2026-01-01T20:00:00+00:00\t\tpassed\t3\tbench"
            )
            for k, test in enumerate(TESTS):
                test_rows.append(f"{i}\t{test}\t{test.partition('::')[0]}\t1\tpassed\t0.5")
                for name, unit, typical in PARAMETERS[k]:
                    value = typical * (1 + ((i * 7919) % 1000 - 500) / 10_000)
                    outcome = "fail" if i % 97 == 0 else "pass"
                    value_rows.append(
                        f"{i}\t{test}\t{name}\t{value!r}\t{unit}\t\\N\t{typical * 1.1!r}\t"
                        f"{outcome}\t{begun}\t{part}\t{bench}\t{serial}\t{begun}"
                    )
        for table, columns, rows in (
            ("runs", "id, run_id, sha256, path, host, part, serial, lot, station, operator, "
                     "start, start_time, end_time, outcome, schema_version, published_by",
             run_rows),
            ("tests", "run, test_id, plan, attempt, outcome, duration", test_rows),
            ("measurements", "run, test_id, name, value, unit, low, high, outcome, time, part, "
                             "station, serial, start", value_rows),
        ):  # fmt: skip
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                buffer = io.BytesIO(_copy_text(rows))
                while block := buffer.read(1 << 20):
                    copy.write(block)
        cursor.execute("SELECT setval('runs_id_seq', %s)", (runs,))
        db.commit()
        db.autocommit = True
        cursor.execute("VACUUM ANALYZE")  # what a lab's autovacuum does after a night's loads
    return time.perf_counter() - start


def main() -> int:
    parser = targets.arguments(__doc__)
    parser.add_argument("--runs", type=int, default=None, help="runs (default 100 000)")
    parser.add_argument("--catalog", metavar="URL", help="an empty database to use instead")
    options = parser.parse_args()
    runs = options.runs or (2_000 if options.quick else 100_000)
    server: AbstractContextManager[object]
    try:
        server = nullcontext() if options.catalog else throwaway_server()
        with server as started:
            url = options.catalog or started.url()  # type: ignore[attr-defined]
            return measure(url, runs, quick=options.quick)
    except NoServer as exc:  # nothing measured: the target is not met, and says why
        print(f"bench_lab_catalog: {exc}", file=sys.stderr)
        line = {
            "benchmark": f"lab history at {runs:,} runs", "measured": f"not measured: {exc}",
            "baseline": "", "ratio": None, "target": "<= 1 s", "met": False, "included": "",
        }  # fmt: skip
        print(targets.RESULT_PREFIX + json.dumps(line), flush=True)
        return 1


def measure(url: str, runs: int, *, quick: bool) -> int:
    with PostgresCatalog(url) as lab:
        if len(lab):
            print(f"{lab.where} is not empty: give an empty database", file=sys.stderr)
            return 1
    seconds = load(url, runs)
    print(f"loaded {runs:,} runs ({runs * 8:,} measurements) with COPY in {seconds:.1f} s")
    with PostgresCatalog(url) as lab:
        assert len(lab) == runs
        found = lab.nightly("iq")
        print(f"nightly('iq'): {len(found):,} (part, bench, night) rows")
        assert sum(row.readings for row in found) == runs

        def indexed() -> float:
            return targets.timed(lambda: lab.nightly("iq"))

        def one_bench() -> float:
            return targets.timed(lambda: lab.nightly("iq", part=PARTS[0], bench=BENCHES[0]))

        def without_index() -> float:
            lab._db.execute("SET enable_indexscan = off; SET enable_indexonlyscan = off; "
                            "SET enable_bitmapscan = off")  # fmt: skip
            try:
                return targets.timed(lambda: lab.nightly("iq"))
            finally:
                lab._db.execute("RESET ALL")

        pairs = targets.interleaved(without_index, indexed, pairs=3 if quick else 7)
        narrow = [one_bench() for _ in range(3 if quick else 7)]
    whole = targets.summarize(pairs.measured)
    ratio = targets.summarize(pairs.ratios(throughput=False))
    print(f"whole history: {whole.text(1e3, 'ms')}")
    print(f"  reference, index scans off: {targets.summarize(pairs.baseline).text(1e3, 'ms')} "
          f"(with/without: {ratio.text(digits=3)}x)")  # fmt: skip
    print(f"  one part on one bench: {targets.summarize(narrow).text(1e3, 'ms')}")
    met = targets.absolute(
        f"lab history at {runs:,} runs",
        whole.median,
        "s",
        1.0,
        at_most=True,
        included="nightly('iq') over every part, bench and night: query, fetch, NightlyValues",
    )
    return targets.exit_status([met])


if __name__ == "__main__":
    sys.exit(main())
