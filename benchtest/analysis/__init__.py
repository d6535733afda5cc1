"""Waveform and sweep measurements following IEEE Std 181-2011, returning SI values.

Waveform functions take a `Waveform` or a `(time, values)` pair; sweep functions take a
`SweepResult` or two arrays. Each raises `AnalysisError`, naming what is missing, when the signal
has no such feature. The definitions and estimators are described in each submodule.
"""

from __future__ import annotations

from benchtest.analysis.aberrations import overshoot, settling_time, undershoot
from benchtest.analysis.amplitude import mean, peak_to_peak, rms
from benchtest.analysis.energy import (
    EnergyProfile,
    PowerEvent,
    Segmentation,
    average_current,
    battery_life,
    charge,
    energy,
    energy_profile,
    find_events,
    segment_states,
    state_currents,
    wakeup_time,
)
from benchtest.analysis.energy_stream import energy_profile_chunked
from benchtest.analysis.levels import base_level, state_levels, top_level
from benchtest.analysis.pulses import duty_cycle, frequency, period, pulse_width
from benchtest.analysis.sweeps import (
    Thresholds,
    dropout_voltage,
    line_regulation,
    load_regulation,
    threshold_crossing,
)
from benchtest.analysis.trace import AnalysisError
from benchtest.analysis.transitions import Transition, fall_time, rise_time, transitions

__all__ = [
    "AnalysisError",
    "EnergyProfile",
    "PowerEvent",
    "Segmentation",
    "Thresholds",
    "Transition",
    "average_current",
    "base_level",
    "battery_life",
    "charge",
    "dropout_voltage",
    "duty_cycle",
    "energy",
    "energy_profile",
    "energy_profile_chunked",
    "fall_time",
    "find_events",
    "frequency",
    "line_regulation",
    "load_regulation",
    "mean",
    "overshoot",
    "peak_to_peak",
    "period",
    "pulse_width",
    "rise_time",
    "rms",
    "segment_states",
    "settling_time",
    "state_currents",
    "state_levels",
    "threshold_crossing",
    "top_level",
    "transitions",
    "undershoot",
    "wakeup_time",
]
