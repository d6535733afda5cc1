"""What the profilers reached through a vendor's Python library share (Joulescope, PPK2, Otii).

Such a driver wraps the library's device object (built by `open` from the library, or handed in
by a test as a fake of the library's documented API). The library is an optional extra: it is
imported only when a device is opened, and a missing one is one error naming the extra to
install. A library error during a capture (the USB device gone, the server closed) becomes a
`ConnectionLostError` naming the role, so the capture keeps the samples so far.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar

from benchtest.driver.base import Identity, Instrument
from benchtest.driver.profiler import ProfilerBase
from benchtest.values.errors import ConnectionLostError, InstrumentError
from benchtest.values.ratings import NO_GUARD, SourceGuard


def import_library(module: str, extra: str, role: str) -> ModuleType:
    """`module`, or an `InstrumentError` saying which benchtest extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InstrumentError(
            f"this profiler needs the Python package {module!r}: "
            f"pip install 'benchtest[{extra}]' ({exc})",
            role=role,
        ) from exc


class LibraryProfiler(ProfilerBase, Instrument):
    """A `CurrentProfiler` on a vendor library's device object (`self.device`)."""

    capabilities: ClassVar[tuple[str, ...]] = ("CurrentProfiler",)
    safe_state_sends: ClassVar[bool] = True  # one that supplies the DUT switches it off
    #: The sample rates the device delivers, S/s (the highest is `max_sample_rate`).
    sample_rates: ClassVar[Sequence[float]] = ()
    vendor: ClassVar[str] = ""
    model: ClassVar[str] = ""
    #: The resource's scheme (`joulescope://<serial>`) and what follows it, for messages.
    scheme: ClassVar[str] = ""
    resource_syntax: ClassVar[str] = ""
    #: The constructor keywords a bench file's `options` may set.
    driver_options: ClassVar[tuple[str, ...]] = ("stall_timeout",)

    def __init__(self, device: Any, *, role: str = "", guard: SourceGuard = NO_GUARD) -> None:
        super().__init__(role=role, guard=guard)
        self.device = device
        self.closed = False

    def check_rate(self, duration: float, sample_rate: float, chunk_points: int) -> int:
        """The sample count; one error for a rate that is not among `sample_rates`."""
        count = self.check_capture(duration, sample_rate, chunk_points)
        if not any(abs(float(sample_rate) - rate) <= 1e-9 * rate for rate in self.sample_rates):
            shown = ", ".join(f"{rate:g}" for rate in self.sample_rates)
            raise InstrumentError(
                f"sample rate {sample_rate!r} S/s is not one the {self.model} delivers "
                f"({shown} S/s)",
                role=self.role,
            )
        return count

    def lost(self, exc: BaseException, doing: str) -> ConnectionLostError:
        """A library failure in the middle of `doing`, as the error of a lost connection."""
        return ConnectionLostError(
            f"the {self.model} failed while {doing}: {type(exc).__name__}: {exc}", role=self.role
        )

    def identify(self) -> Identity:
        return Identity(self.vendor, self.model, str(self.serial_number()), "")

    def serial_number(self) -> str:
        return ""

    def safe_state(self) -> None:
        """A profiler that only measures has nothing to make safe; one that supplies the DUT
        switches its supply off (`supply_off`)."""
        if not self.closed:
            self.supply_off()

    def supply_off(self) -> None:
        """Switch the device's own supply to the DUT off (nothing for a pure meter)."""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.release()

    def release(self) -> None:
        """Let go of the library's device."""

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> LibraryProfiler:
        raise NotImplementedError

    @classmethod
    def resource_target(cls, resource: str, role: str) -> str:
        """What follows `<scheme>://` in `resource`; an error showing the syntax otherwise."""
        prefix = f"{cls.scheme}://"
        text = str(resource).strip()
        if not text.lower().startswith(prefix) or any(c.isspace() for c in text):
            raise InstrumentError(
                f"a {cls.model} resource reads {cls.resource_syntax}, not {resource!r}",
                role=role or resource,
            )
        return text[len(prefix) :]

    @classmethod
    def checked_options(cls, options: Mapping[str, Any], role: str) -> dict[str, Any]:
        """`options` when the driver takes each of them; an error naming the unknown ones."""
        unknown = sorted(set(options) - set(cls.driver_options))
        if unknown:
            raise InstrumentError(
                f"unknown option(s) {', '.join(unknown)} for driver {cls.driver_name!r}; "
                f"known: {', '.join(cls.driver_options)}",
                role=role,
            )
        return dict(options)
