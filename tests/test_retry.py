"""retry(n): a failing test re-runs; every attempt is recorded; the last attempt decides."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

PLAN = """
import pytest
from pathlib import Path

COUNTER = Path(__file__).with_name("attempts.txt")

def attempt_number():
    n = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(n))
    return n

@pytest.mark.retry(3)
def test_flaky_contact(measure):
    n = attempt_number()
    measure("iq_sleep", 3.0e-6 if n < 3 else 1.0e-6)

@pytest.mark.retry(1)
def test_always_out_of_limits(measure):
    measure("iq_active", 99e-6)

def test_not_retried(measure):
    measure("vout", 3.3)
"""


def attempts(path: Path) -> list[tuple[str, int, str]]:
    """(test id, attempt, outcome) of every recorded attempt, read with plain h5py; each
    attempt also has its own NXentry."""
    with h5py.File(path, "r") as f:
        tests = f["summary/tests"][...]
        entries = {g.name.lstrip("/") for g in f.values() if g.attrs.get("NX_class") == "NXentry"}
        assert entries == {e.decode() for e in tests["entry"]}
        return sorted(
            (t.decode().split("::")[1], int(a), o.decode())
            for t, a, o in zip(tests["test_id"], tests["attempt"], tests["outcome"], strict=True)
        )


def test_retry_records_every_attempt_and_the_last_decides(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text)
    pytester.makepyfile(test_plan=PLAN)
    result = pytester.runpytest_inprocess("--sim", "--dut", "ldo.yaml", "--results-dir", "results")
    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 3}
    [path] = (pytester.path / "results").glob("*.h5")
    assert attempts(path) == [
        ("test_always_out_of_limits", 1, "failed"),
        ("test_always_out_of_limits", 2, "failed"),
        ("test_flaky_contact", 1, "failed"),
        ("test_flaky_contact", 2, "failed"),
        ("test_flaky_contact", 3, "passed"),
        ("test_not_retried", 1, "passed"),
    ]


def test_retry_count_must_be_a_whole_number(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text)
    pytester.makepyfile("import pytest\n@pytest.mark.retry('x')\ndef test_a():\n    pass\n")
    result = pytester.runpytest_inprocess("--sim", "--dut", "ldo.yaml", "--results-dir", "results")
    result.stderr.fnmatch_lines(["*test_a: retry(n) needs a whole number n >= 0, got 'x'*"])
