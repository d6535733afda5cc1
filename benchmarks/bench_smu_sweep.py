"""A 1000-point SMU sweep in the Keithley 2450's buffer versus point-by-point set-and-measure.

Both run against the same simulated 2450 (over PyVISA, on a loopback socket) feeding the
simulated LDO: (a) `sweep_voltage` — one sweep command, `:INITiate`, one `:TRACe:DATA?`; (b)
`source_voltage` + `measure_current` for every level. Prints both times and their ratio; exits
1 if the buffered sweep is not at least 10x faster.

    python benchmarks/bench_smu_sweep.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchtest.driver.registry import open_instrument
from benchtest.sim import LdoModel, World
from benchtest.sim.simulators.keithley2450 import Keithley2450

POINTS = 1000
SWEEP_ROUNDS = 5
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
    model = LdoModel.from_mapping(yaml.safe_load(PROFILE.read_text(encoding="utf-8"))["model"])
    levels = np.linspace(0.0, 5.5, POINTS)
    with Keithley2450(World(model)) as server:
        smu = open_instrument("keithley.k2450", server.address, role="smu")
        try:
            buffered(smu, levels)  # warm-up
            sweeps = [buffered(smu, levels) for _ in range(SWEEP_ROUNDS)]
            t_points, by_point = point_by_point(smu, levels)
            smu.safe_state()
        finally:
            smu.close()
    t_sweep = statistics.median(t for t, _ in sweeps)
    swept = sweeps[-1][1]
    same = np.allclose(swept, by_point, rtol=0.01, atol=1e-9)
    ratio = t_points / t_sweep
    print(f"{POINTS}-point sweep in the 2450's buffer (median of {SWEEP_ROUNDS}): {t_sweep:.4f} s")
    print(f"{POINTS} x source_voltage + measure_current:            {t_points:.4f} s")
    print(f"ratio: {ratio:.1f}x (target >= {TARGET:g}x); readings agree: {same}")
    return 0 if ratio >= TARGET and same else 1


if __name__ == "__main__":
    sys.exit(main())
