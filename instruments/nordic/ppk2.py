"""Nordic Power Profiler Kit II, through the `ppk2-api` package (extra `ppk2`).

The documented API: `PPK2_API.list_devices()` lists the kits' serial ports, `PPK2_API(port,
timeout=1, write_timeout=1, exclusive=True)` opens one, `get_modifiers()` reads its calibration,
`use_source_meter()` with `set_source_voltage(<mV>)` and `toggle_DUT_power("ON")` make it
supply the DUT (`use_ampere_meter()` makes it a meter in series), `start_measuring()` starts
the 100 kS/s stream, `get_data()` returns the bytes received since the last call (b"" when
none), `get_samples(data)` turns them into (currents in uA, digital bits), `stop_measuring()`
ends it. The kit autoranges in hardware, and `get_samples` does not report its range, so a
capture records no range changes; it measures no voltage (the source level is in the settings).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from benchtest.driver.library_profiler import LibraryProfiler, import_library
from benchtest.driver.profiler import DEFAULT_CHUNK_POINTS, DEFAULT_STALL_TIMEOUT, StallWatch
from benchtest.values.errors import InstrumentError
from benchtest.values.profile import ProfileChunk, range_changes
from benchtest.values.ratings import NO_GUARD, SourceGuard

MICROAMPERE = 1e-6
SOURCE_RANGE = (0.8, 5.0)  # V the kit sources


class PPK2(LibraryProfiler):
    """A PPK2, as a source meter (`source_voltage` in V) or an ammeter in series (None).
    Implements `CurrentProfiler`."""

    driver_name: ClassVar[str] = "nordic.ppk2"
    vendor: ClassVar[str] = "Nordic Semiconductor"
    model: ClassVar[str] = "PPK2"
    max_sample_rate: ClassVar[float] = 1e5
    sample_rates: ClassVar[tuple[float, ...]] = (1e5,)
    scheme: ClassVar[str] = "ppk2"
    resource_syntax: ClassVar[str] = (
        "ppk2:// (the one connected kit) or ppk2://<serial port> (ppk2://COM5, ppk2:///dev/ttyACM0)"
    )
    driver_options: ClassVar[tuple[str, ...]] = ("source_voltage", "stall_timeout")
    poll_interval: float = 0.01  # s between reads of the serial port

    def __init__(
        self,
        device: Any,
        *,
        role: str = "",
        guard: SourceGuard = NO_GUARD,
        source_voltage: float | None = None,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        super().__init__(device, role=role, guard=guard)
        if source_voltage is not None:
            volts = float(source_voltage)
            if not SOURCE_RANGE[0] <= volts <= SOURCE_RANGE[1]:
                raise InstrumentError(
                    f"the PPK2 sources {SOURCE_RANGE[0]:g} V to {SOURCE_RANGE[1]:g} V, "
                    f"not {source_voltage!r} V",
                    role=role,
                )
            guard.check("voltage", volts, "PPK2 source voltage")  # the DUT's ratings
        self.source_voltage = source_voltage
        self.stall_timeout = stall_timeout

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> PPK2:
        """`resource`: "ppk2://" for the one connected kit, or "ppk2://<serial port>"."""
        port = cls.resource_target(resource, role)
        own = cls.checked_options(options, role or resource)
        library = import_library("ppk2_api.ppk2_api", "ppk2", role or resource)
        if not port:
            ports = [
                p[0] if isinstance(p, tuple | list) else p for p in library.PPK2_API.list_devices()
            ]
            if len(ports) != 1:
                raise InstrumentError(
                    f"{len(ports)} PPK2 kits connected ({', '.join(map(str, ports))}); "
                    "name the port: ppk2://<port>",
                    role=role or resource,
                )
            port = str(ports[0])
        device = library.PPK2_API(port, timeout=1, write_timeout=1, exclusive=True)
        device.get_modifiers()
        return cls(device, role=role or resource, guard=guard, **own)

    def supply_off(self) -> None:
        if self.source_voltage is not None:
            self.device.toggle_DUT_power("OFF")

    def release(self) -> None:
        ser = getattr(self.device, "ser", None)
        if ser is not None:
            ser.close()

    def stream(
        self, duration: float, *, sample_rate: float, chunk_points: int = DEFAULT_CHUNK_POINTS
    ) -> Iterator[ProfileChunk]:
        count = self.check_rate(duration, sample_rate, chunk_points)
        try:
            if self.source_voltage is None:
                self.device.use_ampere_meter()
            else:
                self.device.use_source_meter()
                self.device.set_source_voltage(round(self.source_voltage * 1000))
                self.device.toggle_DUT_power("ON")
            self.device.start_measuring()
        except Exception as exc:
            raise self.lost(exc, "starting the capture") from exc
        self.capture_info = {"source_voltage": self.source_voltage or 0.0, "ranges": "auto"}
        return self._chunks(count, int(chunk_points))

    def _read(self, received: int) -> np.ndarray[Any, Any]:
        """The samples the kit sent since the last read, A (none: an empty array)."""
        try:
            data = self.device.get_data()
            samples = self.device.get_samples(data)[0] if data else []
        except Exception as exc:
            raise self.lost(exc, f"streaming, after {received} samples") from exc
        return np.asarray(samples, dtype=np.float64) * MICROAMPERE

    def _chunks(self, count: int, chunk_points: int) -> Iterator[ProfileChunk]:
        watch = StallWatch(self.role, self.stall_timeout)
        pending: list[np.ndarray[Any, Any]] = []
        held = sent = 0
        try:
            while sent < count:
                if held >= min(chunk_points, count - sent):
                    current = np.concatenate(pending)
                    take = min(chunk_points, count - sent)
                    yield ProfileChunk(sent, current[:take], None, range_changes())
                    pending, held, sent = [current[take:]], held - take, sent + take
                    continue
                try:
                    samples = self._read(sent + held)
                    if not len(samples):
                        time.sleep(self.poll_interval)
                    watch.progress(sent + held + len(samples))
                except InstrumentError:
                    if held:  # what arrived before the failure is kept
                        yield ProfileChunk(sent, np.concatenate(pending), None, range_changes())
                    raise
                if len(samples):
                    pending.append(samples)
                    held += len(samples)
        finally:
            with contextlib.suppress(Exception):  # the kit may be gone: its error counts
                self.device.stop_measuring()
