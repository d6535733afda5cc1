"""The one error tree of benchtest.

Every exception the framework raises derives from `BenchtestError`. Messages name what was
wrong and where: the file and field of a bad configuration, the instrument role, the command
and what arrived for an instrument problem, the rating for a refused request.
"""

from __future__ import annotations


class BenchtestError(Exception):
    """Base of every error raised by benchtest."""


class ConfigError(BenchtestError):
    """A malformed bench file or DUT profile; names the file, the field path and what was wanted."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {problem}")


class DriverNotFoundError(BenchtestError):
    """No driver is registered under the requested name."""


class InstrumentError(BenchtestError):
    """An instrument did not do what was asked.

    `role` is the bench role (or resource) of the instrument, `command` the command that was
    sent and `received` what came back, when there was anything.
    """

    def __init__(
        self,
        message: str,
        *,
        role: str = "",
        command: str = "",
        received: bytes | str | None = None,
    ) -> None:
        self.role = role
        self.command = command
        self.received = received
        parts = [f"[{role}]" if role else "", message]
        if command:
            parts.append(f"(command {command!r})")
        if received is not None:
            shown = received if len(received) <= 120 else received[:120]
            parts.append(f"received {shown!r}" + ("..." if len(received) > 120 else ""))
        super().__init__(" ".join(p for p in parts if p))


class InstrumentTimeoutError(InstrumentError):
    """The instrument did not answer within its timeout."""


class ProtocolError(InstrumentError):
    """A reply could not be understood: garbled text, a truncated or lying block header."""


class InstrumentReportedError(InstrumentError):
    """The instrument put an error on its error queue."""

    def __init__(self, message: str, *, code: int, **kwargs: object) -> None:
        self.code = code
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ConnectionLostError(InstrumentError):
    """The connection to the instrument or port went away."""


class SafetyError(BenchtestError):
    """A request would exceed a DUT's absolute maximum rating and was refused before sending."""


class MeasurementError(BenchtestError):
    """A measurement could not be recorded: unknown parameter, unit mismatch, bad value."""


class ResultFileError(BenchtestError):
    """A run file is missing, corrupt, truncated or of an unknown schema version."""


class SimulatorError(BenchtestError):
    """The simulated bench could not start or stopped unexpectedly."""
