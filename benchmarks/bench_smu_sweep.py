"""A 1000-point SMU sweep in the Keithley 2450's buffer versus point-by-point set-and-measure.

Both run against the same simulated 2450 (over PyVISA, on a loopback socket) feeding the
simulated LDO: (a) `sweep_voltage` — one sweep command, `:INITiate`, one `:TRACe:DATA?`; (b)
`source_voltage` + `measure_current` for every level. The two alternate, PAIRS times after a
warm-up; prints the median and spread of both times and of their per-pair ratio; exits 1 if
the buffered sweep is not at least 10x faster, or the two disagree on the currents.

    python benchmarks/bench_smu_sweep.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import targets
import yaml
from targets import interleaved, summarize

from benchtest.driver.registry import open_instrument
from benchtest.sim import LdoModel, World
from benchtest.sim.simulators.keithley2450 import Keithley2450

POINTS = 1000
PAIRS = 5
TARGET = 10.0
LIMIT = 0.01  # A
PROFILE = Path(__file__).resolve().parents[1] / "dut_profiles" / "bt_ldo33.yaml"


def buffered(smu: Any, levels: np.ndarray) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = smu.sweep_voltage(levels, current_limit=LIMIT)
    return time.perf_counter() - start, result.measured


def point_by_point(smu: Any, levels: np.ndarray) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    smu.output_on()
    readings = []
    for level in levels:
        smu.source_voltage(float(level), current_limit=LIMIT)
        readings.append(smu.measure_current())
    return time.perf_counter() - start, np.array(readings)


def main() -> int:
    quick = targets.arguments(__doc__).parse_args().quick
    points, pairs = (50, 2) if quick else (POINTS, PAIRS)
    model = LdoModel.from_mapping(yaml.safe_load(PROFILE.read_text(encoding="utf-8"))["model"])
    levels = np.linspace(0.0, 5.5, points)
    readings: dict[str, np.ndarray] = {}

    def run(how: Any, key: str) -> float:
        seconds, readings[key] = how(smu, levels)
        return float(seconds)

    with Keithley2450(World(model)) as server:
        smu = open_instrument("keithley.k2450", server.address, role="smu")
        try:
            pair = interleaved(
                lambda: run(point_by_point, "points"), lambda: run(buffered, "sweep"), pairs
            )
            smu.safe_state()
        finally:
            smu.close()
    same = bool(np.allclose(readings["sweep"], readings["points"], rtol=0.01, atol=1e-9))
    print(f"readings of the two agree: {same}")
    met = targets.result(
        "smu_sweep: buffered sweep vs point by point (speed-up)",
        summarize(pair.measured).text(1e3, "ms"),
        summarize(pair.baseline).text(1e3, "ms"),
        summarize(pair.ratios(throughput=True)),
        TARGET,
        at_least=True,
        included=f"{points} levels on a simulated 2450 over PyVISA/TCP: sweep command, :INIT, "
        "*WAI, :TRAC:ACT?, :TRAC:DATA? against source_voltage + measure_current per level",
    )
    return targets.exit_status([met, same])


if __name__ == "__main__":
    sys.exit(main())
