"""The garbage collector and a bench run: what exists at the end of collection is frozen out of
its walks while the tests run and through pytest's own end-of-run collections, and given back
afterwards; a run without a bench, or a process that froze objects itself, is left alone."""

from __future__ import annotations

import gc
from pathlib import Path

import _pytest.unraisableexception as unraisable
import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "dut_profiles" / "bt_ldo33.yaml"
BENCH = (
    "schema_version: 1\nname: idle bench\ninstruments:\n"
    "  smu: {driver: keithley.k2450, resource: 'TCPIP::127.0.0.1::9::SOCKET'}\n"
)
# Each test notes how many objects are frozen while it runs.
PLAN = """
import gc
import pytest

@pytest.mark.parametrize("n", range(3))
def test_value(n, measure):
    with open("frozen.txt", "a") as out:
        out.write(f"{gc.get_freeze_count()}\\n")
    measure("iq_sleep", 1.0e-6)
"""
PLAIN = """
import gc

def test_plain():
    with open("frozen.txt", "a") as out:
        out.write(f"{gc.get_freeze_count()}\\n")
"""


@pytest.fixture
def final_collections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many objects were frozen at each of pytest's end-of-run garbage collections."""
    seen: list[int] = []
    original = unraisable.gc_collect_harder

    def collect(iterations: int) -> None:
        seen.append(gc.get_freeze_count())
        original(iterations)

    monkeypatch.setattr(unraisable, "gc_collect_harder", collect)
    return seen


def _frozen_during_tests(pytester: pytest.Pytester) -> list[int]:
    return [int(line) for line in (pytester.path / "frozen.txt").read_text().split()]


def test_a_bench_run_freezes_the_collected_heap_until_its_end(
    pytester: pytest.Pytester, final_collections: list[int]
) -> None:
    assert gc.get_freeze_count() == 0
    pytester.makepyfile(test_plan=PLAN)
    pytester.makefile(".yaml", bench=BENCH)
    result = pytester.runpytest_inprocess(
        "--bench", "bench.yaml", f"--dut={PROFILE}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)
    during = _frozen_during_tests(pytester)
    assert len(during) == 3 and all(count > 0 for count in during)
    assert len(final_collections) == 2 and all(count > 0 for count in final_collections)
    assert gc.get_freeze_count() == 0  # given back once pytest's collections were done


def test_a_run_without_a_bench_leaves_the_collector_alone(
    pytester: pytest.Pytester, final_collections: list[int]
) -> None:
    pytester.makepyfile(test_plan=PLAIN)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert _frozen_during_tests(pytester) == [0]
    assert final_collections == [0, 0]


def test_objects_the_process_froze_itself_stay_frozen(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plan=PLAN)
    pytester.makefile(".yaml", bench=BENCH)
    gc.freeze()
    try:
        ours = gc.get_freeze_count()
        result = pytester.runpytest_inprocess(
            "--bench", "bench.yaml", f"--dut={PROFILE}", "-p", "no:cacheprovider"
        )
        result.assert_outcomes(passed=3)
        # Nothing more frozen (frozen objects that lose their last reference still go), and
        # nothing thawed.
        during = _frozen_during_tests(pytester)
        assert len(during) == 3 and all(0 < count <= ours for count in during)
        assert 0 < gc.get_freeze_count() <= ours
    finally:
        gc.unfreeze()


THRESHOLD_PLAN = """
import gc

def test_threshold():
    with open("threshold.txt", "w") as out:
        out.write(str(gc.get_threshold()[0]))
"""


@pytest.mark.parametrize("bench", [True, False])
def test_the_young_generation_is_collected_less_often_during_a_bench_run(
    pytester: pytest.Pytester, bench: bool
) -> None:
    from benchtest.plugin.heap import YOUNG_THRESHOLD

    before = gc.get_threshold()
    assert before[0] < YOUNG_THRESHOLD
    pytester.makepyfile(test_plan=THRESHOLD_PLAN)
    pytester.makefile(".yaml", bench=BENCH)
    args = ["--bench", "bench.yaml", f"--dut={PROFILE}"] if bench else []
    result = pytester.runpytest_inprocess(*args, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    during = int((pytester.path / "threshold.txt").read_text())
    assert during == (YOUNG_THRESHOLD if bench else before[0])
    assert gc.get_threshold() == before  # put back with the heap
