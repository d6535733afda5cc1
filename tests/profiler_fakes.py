"""Fakes of the documented APIs of the profiler libraries, for tests without the hardware.

Each fake has only the calls the library documents (see each driver's module doc), logs what it
was asked, and plays back samples from a `ProfileSource` of the simulated MCU, so a driver is
checked end to end on realistic current. `fail_after` samples a fake fails as its device does
when unplugged (the library raises, or reports the stop); `stall_after` it goes quiet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.sim.models.power_profile import ProfileSource, WakeSchedule

FloatArray = npt.NDArray[np.float64]


class Feed:
    """Samples of a wake schedule at `rate`, handed out in batches, with the faults."""

    def __init__(
        self,
        schedule: WakeSchedule,
        rate: float,
        *,
        batch: int,
        fail_after: int | None = None,
        stall_after: int | None = None,
    ) -> None:
        self.source = ProfileSource(schedule, rate)
        self.batch = batch
        self.fail_after, self.stall_after = fail_after, stall_after
        self.sent = 0

    def next(self) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]] | None:
        """The next batch: current (A), voltage (V), range codes; None when quiet. Raises
        `OSError` once past `fail_after`."""
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise OSError("[Errno 19] No such device (the USB device was unplugged)")
        size = self.batch
        for limit in (self.fail_after, self.stall_after):
            if limit is not None:
                size = min(size, limit - self.sent)
        if size <= 0:
            return None
        chunk = self.source.chunk(self.sent, size)
        current = np.asarray(chunk.current, dtype=np.float64)
        voltage = np.asarray(chunk.voltage, dtype=np.float64)
        codes = 6 - self.source.range_index(current)  # JS110 numbering: 6 is 18 uA
        self.sent += size
        return current, voltage, codes.astype(np.int64)


class FakeStreamBuffer:
    """`stream_buffer` of the joulescope API: `sample_id_range` and `samples_get`."""

    def __init__(self) -> None:
        self.columns: dict[str, list[npt.NDArray[Any]]] = {
            "current": [],
            "voltage": [],
            "current_range": [],
        }
        self.sample_id_range = (0, 0)

    def add(self, current: FloatArray, voltage: FloatArray, codes: npt.NDArray[np.int64]) -> None:
        for name, values in (("current", current), ("voltage", voltage), ("current_range", codes)):
            self.columns[name].append(values)
        self.sample_id_range = (0, self.sample_id_range[1] + len(current))

    def samples_get(self, start: int, stop: int, fields: list[str]) -> dict[str, Any]:
        signals = {}
        for name in fields:
            whole = np.concatenate(self.columns[name])
            dtype = np.float32 if name != "current_range" else np.uint8
            signals[name] = {"value": whole[start:stop].astype(dtype), "units": ""}
        return {"signals": signals}


class FakeJoulescope:
    """A Joulescope device as the `joulescope` package documents it."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.log: list[str] = []
        self.processes: list[Any] = []
        self.parameters: dict[str, Any] = {}
        self.buffer = FakeStreamBuffer()

    def __str__(self) -> str:
        return "Joulescope:001234"

    def parameter_set(self, name: str, value: Any) -> None:
        self.log.append(f"parameter_set {name} {value}")
        self.parameters[name] = value

    def stream_process_register(self, process: Any) -> None:
        self.processes.append(process)

    def stream_process_unregister(self, process: Any) -> None:
        self.processes.remove(process)

    def start(self, stop_fn: Callable[..., None], duration: float) -> None:
        """Stream as the USB thread would (here at once), then report the stop."""
        self.log.append(f"start {duration:g}")
        rate = float(self.parameters["sampling_frequency"])
        wanted = round(duration * rate)
        while self.feed.sent < wanted:
            try:
                batch = self.feed.next()
            except OSError as exc:
                stop_fn(1, str(exc))
                return
            if batch is None:
                return  # quiet: no data and no stop
            self.buffer.add(*batch)
            for process in self.processes:
                process.stream_notify(self.buffer)
        stop_fn(0, "")

    def stop(self) -> None:
        self.log.append("stop")

    def close(self) -> None:
        self.log.append("close")


class FakePPK2:
    """A `PPK2_API` object as `ppk2-api` documents it: currents in uA."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.log: list[str] = []
        self.measuring = False

    def get_modifiers(self) -> None:
        self.log.append("get_modifiers")

    def use_source_meter(self) -> None:
        self.log.append("use_source_meter")

    def use_ampere_meter(self) -> None:
        self.log.append("use_ampere_meter")

    def set_source_voltage(self, millivolts: int) -> None:
        self.log.append(f"set_source_voltage {millivolts}")

    def toggle_DUT_power(self, state: str) -> None:
        self.log.append(f"toggle_DUT_power {state}")

    def start_measuring(self) -> None:
        self.log.append("start_measuring")
        self.measuring = True

    def stop_measuring(self) -> None:
        self.log.append("stop_measuring")
        self.measuring = False

    def get_data(self) -> Any:
        if not self.measuring:
            return b""
        batch = self.feed.next()  # raises as the serial port does when unplugged
        return b"" if batch is None else (batch[0] / 1e-6).tobytes()

    def get_samples(self, data: bytes) -> tuple[list[float], list[int]]:
        """The library decodes the kit's 4-byte words; the fake carries float64 in uA."""
        return np.frombuffer(data, dtype=np.float64).tolist(), []


class FakeRecording:
    """An Otii recording that grows while it runs."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.current: list[float] = []
        self.voltage: list[float] = []

    def get_channel_data_count(self, device_id: str, channel: str) -> int:
        batch = self.feed.next()
        if batch is not None:
            self.current.extend(batch[0].tolist())
            self.voltage.extend(batch[1].tolist())
        return len(self.current)

    def get_channel_data(self, device_id: str, channel: str, index: int, count: int) -> Any:
        values = self.current if channel == "mc" else self.voltage
        return {"timestamp": 0.0, "interval": 1.0, "values": values[index : index + count]}


class FakeOtiiProject:
    def __init__(self, recording: FakeRecording) -> None:
        self.recording = recording
        self.log: list[str] = []

    def start_recording(self) -> None:
        self.log.append("start_recording")

    def stop_recording(self) -> None:
        self.log.append("stop_recording")

    def get_last_recording(self) -> FakeRecording:
        return self.recording


class FakeArc:
    """An Otii device (Arc: its main-current rate is fixed; Ace: settable)."""

    def __init__(self, rate: float, *, settable: bool) -> None:
        self.id, self.name = "arc-1", "Arc"
        self.rate, self.settable = rate, settable
        self.log: list[str] = []

    def get_channel_samplerate(self, channel: str) -> float:
        return self.rate

    def set_channel_samplerate(self, channel: str, rate: int) -> None:
        if not self.settable:
            raise RuntimeError("Otii error: set_channel_samplerate is only supported on Ace")
        self.rate = rate

    def enable_channel(self, channel: str, enabled: bool) -> None:
        self.log.append(f"enable_channel {channel} {enabled}")

    def set_main_voltage(self, volts: float) -> None:
        self.log.append(f"set_main_voltage {volts:g}")

    def set_main(self, on: bool) -> None:
        self.log.append(f"set_main {on}")
