"""Qoitech Otii Arc/Ace, through the Otii automation server and `otii-tcp-client` (extra `otii`).

The documented API: `otii_client.OtiiClient().connect(host=..., port=...)` reaches the Otii
application, `otii.get_devices()` lists its devices and `otii.get_active_project()` (else
`otii.create_project()`) is where recordings go. On a device: `enable_channel("mc", True)` and
`enable_channel("mv", True)` record the main current and voltage, `get_channel_samplerate("mc")`
reads the rate and `set_channel_samplerate("mc", rate)` sets it (Ace only), `set_main_voltage(v)`
with `set_main(True)` supplies the DUT. `project.start_recording()` / `stop_recording()` bound a
recording; `project.get_last_recording()` is it, and while it runs
`recording.get_channel_data_count(device.id, "mc")` and
`recording.get_channel_data(device.id, "mc", index, count)["values"]` read what has arrived.
The Otii autoranges in hardware and does not report the range per sample.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np

from benchtest.driver.library_profiler import LibraryProfiler, import_library
from benchtest.driver.profiler import DEFAULT_CHUNK_POINTS, DEFAULT_STALL_TIMEOUT, StallWatch
from benchtest.values.errors import InstrumentError
from benchtest.values.profile import ProfileChunk, range_changes
from benchtest.values.ratings import NO_GUARD, SourceGuard

CURRENT, VOLTAGE = "mc", "mv"
DEFAULT_PORT = 1905
READ_POINTS = 50_000  # per get_channel_data


class Otii(LibraryProfiler):
    """An Otii Arc or Ace, supplying the DUT at `supply_voltage` V (None: it only measures).
    Implements `CurrentProfiler`."""

    driver_name: ClassVar[str] = "qoitech.otii"
    vendor: ClassVar[str] = "Qoitech"
    model: ClassVar[str] = "Otii"
    max_sample_rate: ClassVar[float] = 50_000.0  # the Ace's highest main-current rate
    scheme: ClassVar[str] = "otii"
    resource_syntax: ClassVar[str] = "otii://<host>[:<port>]/<device name> (otii://127.0.0.1/Arc)"
    driver_options: ClassVar[tuple[str, ...]] = ("supply_voltage", "stall_timeout")
    poll_interval: float = 0.05  # s between reads of the recording

    def __init__(
        self,
        device: Any,
        *,
        project: Any,
        role: str = "",
        guard: SourceGuard = NO_GUARD,
        supply_voltage: float | None = None,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        super().__init__(device, role=role, guard=guard)
        if supply_voltage is not None:
            guard.check("voltage", float(supply_voltage), "Otii main supply voltage")
        self.project = project
        self.supply_voltage = supply_voltage
        self.stall_timeout = stall_timeout

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Otii:
        """`resource`: "otii://<host>[:<port>]/<device name>" (the name may be left out when
        the Otii application has one device)."""
        cls.resource_target(resource, role)
        try:
            where = urlsplit(resource.strip())
            port = where.port or DEFAULT_PORT
        except ValueError as exc:
            raise InstrumentError(
                f"a {cls.model} resource reads {cls.resource_syntax}, not {resource!r} ({exc})",
                role=role or resource,
            ) from None
        own = cls.checked_options(options, role or resource)
        library = import_library("otii_tcp_client.otii_client", "otii", role or resource)
        otii = library.OtiiClient().connect(host=where.hostname or "127.0.0.1", port=port)
        name = where.path.strip("/")
        devices = [d for d in otii.get_devices() if not name or d.name == name]
        if len(devices) != 1:
            raise InstrumentError(
                f"{len(devices)} Otii devices match {name or 'any name'!r}", role=role or resource
            )
        project = otii.get_active_project() or otii.create_project()
        return cls(devices[0], project=project, role=role or resource, guard=guard, **own)

    def serial_number(self) -> str:
        return str(getattr(self.device, "name", ""))

    def supply_off(self) -> None:
        if self.supply_voltage is not None:
            self.device.set_main(False)

    def stream(
        self, duration: float, *, sample_rate: float, chunk_points: int = DEFAULT_CHUNK_POINTS
    ) -> Iterator[ProfileChunk]:
        count = self.check_capture(duration, sample_rate, chunk_points)
        device = self.device
        rate = math.nan
        try:
            rate = float(device.get_channel_samplerate(CURRENT))
            if abs(rate - float(sample_rate)) > 1e-9 * rate:
                device.set_channel_samplerate(CURRENT, int(sample_rate))
        except Exception as exc:
            raise InstrumentError(
                f"the Otii samples its main current at {rate:g} S/s and cannot be set to "
                f"{sample_rate:g} S/s ({type(exc).__name__}: {exc})",
                role=self.role,
            ) from exc
        try:
            device.enable_channel(CURRENT, True)
            device.enable_channel(VOLTAGE, True)
            if self.supply_voltage is not None:
                device.set_main_voltage(float(self.supply_voltage))
                device.set_main(True)
            self.project.start_recording()
            recording = self.project.get_last_recording()
        except Exception as exc:
            raise self.lost(exc, "starting the recording") from exc
        self.capture_info = {"channel_samplerate": float(sample_rate), "ranges": "auto"}
        return self._chunks(recording, count, min(int(chunk_points), READ_POINTS))

    def _chunks(self, recording: Any, count: int, per_read: int) -> Iterator[ProfileChunk]:
        watch = StallWatch(self.role, self.stall_timeout)
        sent = 0
        try:
            while sent < count:
                try:
                    stored = int(recording.get_channel_data_count(self.device.id, CURRENT))
                    if stored > sent:
                        take = min(stored, count, sent + per_read) - sent
                        current = self._read(recording, CURRENT, sent, take)
                        voltage = self._read(recording, VOLTAGE, sent, take)
                except InstrumentError:
                    raise
                except Exception as exc:
                    raise self.lost(exc, f"recording, after {sent} samples") from exc
                watch.progress(stored)
                if stored <= sent:
                    time.sleep(self.poll_interval)
                    continue
                yield ProfileChunk(sent, current, voltage, range_changes())
                sent += take
        finally:
            with contextlib.suppress(Exception):  # the server may be gone: its error counts
                self.project.stop_recording()

    def _read(self, recording: Any, channel: str, start: int, count: int) -> np.ndarray[Any, Any]:
        values = recording.get_channel_data(self.device.id, channel, start, count)["values"]
        if len(values) != count:
            raise InstrumentError(
                f"the Otii returned {len(values)} of {count} {channel} samples from {start}",
                role=self.role,
            )
        return np.asarray(values, dtype=np.float64)
