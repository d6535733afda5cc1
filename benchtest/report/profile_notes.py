"""What the report says under a current profile: its power states and its events, in words.

A current profile stored with its analysis (`segments` and `events` beside the samples, see
`benchtest.storage.profile_stream`) gets, under its plot, the time share and mean current of each
state and the count, mean charge and mean energy of its events; a capture that broke off says
so and why. A first-edge mark means nothing on such a trace, so none is drawn.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from benchtest.report.units import format_eng


def is_profile(group: h5py.Group) -> bool:
    """Whether the NXdata `group` is a stored current profile (it has range changes)."""
    return "ranges" in group and "complete" in group.attrs


def profile_notes(group: h5py.Group) -> tuple[str, ...]:
    """The caption lines of a stored current profile."""
    notes: list[str] = []
    if not int(group.attrs.get("complete", 1)):
        why = _text(group.attrs.get("stopped", "")) or "no reason given"
        notes.append(f"capture incomplete ({int(group.attrs.get('points', 0))} samples): {why}")
    if "segments" in group:
        notes.extend(_states(group["segments"][()]))
    if "events" in group:
        notes.extend(_events(group["events"][()]))
    return tuple(notes)


def _states(segments: np.ndarray[Any, Any]) -> list[str]:
    total = float(np.sum(segments["duration"])) or 1.0
    lines = []
    for state in dict.fromkeys(segments["state"].tolist()):
        mine = segments[segments["state"] == state]
        time = float(np.sum(mine["duration"]))
        mean = float(np.sum(mine["charge"])) / time if time else float("nan")
        lines.append(
            f"{_text(state)}: {100 * time / total:.3g} % of the time, mean {format_eng(mean, 'A')}"
        )
    return lines


def _events(events: np.ndarray[Any, Any]) -> list[str]:
    if not len(events):
        return ["no complete event (rest, excursion, rest) in the capture"]
    charge = format_eng(float(np.mean(events["charge"])), "C")
    energies = events["energy"][np.isfinite(events["energy"])]
    energy = f", {format_eng(float(np.mean(energies)), 'J')}" if len(energies) else ""
    return [f"{len(events)} events above the rest current: mean {charge}{energy} each"]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
