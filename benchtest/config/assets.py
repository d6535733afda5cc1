"""Where the example bench, DUT profiles and plans are: the source tree, or the installed wheel.

An editable install reads them from the repository; a wheel carries copies under
`benchtest/_assets` (see pyproject.toml), so `benchtest demo` needs nothing but the install.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # the benchtest package
_CANDIDATES = (_PACKAGE.parent, _PACKAGE / "_assets")


def asset(relative: str) -> Path:
    """Path of `relative` (e.g. "benches/sim.yaml"), from the source tree or the wheel."""
    for root in _CANDIDATES:
        candidate = root / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"benchtest asset {relative!r} not found under {' or '.join(map(str, _CANDIDATES))}; "
        "reinstall benchtest"
    )


DEFAULT_BENCH = "benches/sim.yaml"
DEMO_DUT = "dut_profiles/bt_ldo33.yaml"
DEMO_PLANS = "test_plans/ldo"
