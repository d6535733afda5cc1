"""Stop signals (Ctrl-C, SIGTERM, SIGHUP, SIGBREAK) as KeyboardInterrupt, held back while a
record is half changed.

Python raises a signal's KeyboardInterrupt wherever the main thread happens to be. Inside the
run file writer, between two changes that belong together (rows appended to a table, their
list not yet emptied), it would leave the writer out of step with its file: rows stored twice
at close, or a table half opened. Such a change runs inside `held`; a stop received there is
raised when the outermost `held` block ends. Only the main thread holds stops back: it is the
thread Python runs signal handlers in.

A stop is also remembered as pending until pytest has seen it: one raised inside a weakref
callback or `__del__` is only printed ("Exception ignored"), so `raise_pending` raises it again
at each test's set-up and teardown until the session ends with it.

Once the tests are over (`note_only`, as pytest ends the session), a stop is only noted: a
KeyboardInterrupt then would land in end-of-session hooks that nothing catches, and cut short
the closing of the run file, the summary and the JUnit XML. The plugin ends such a run with
pytest's interrupted exit status instead. A third stop is raised all the same, so that a step
that hangs can still be left.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

#: Signals that end a run like Ctrl-C: SIGTERM (kill, CI cancel), SIGHUP (terminal closed) and
#: on Windows SIGBREAK (Ctrl+Break).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGBREAK") if hasattr(signal, name)
)

_pending: list[str] = []  # stops received (names) that pytest has not yet ended the run with
_held: list[str] = []  # stops received inside `held`, raised when it ends
_depth = 0  # how deep the main thread is in `held` blocks
_noting = False  # the tests are over: stops are noted, not raised (but see NOTED_AT_MOST)
_noted = 0  # stops noted since then
#: Stops noted once the tests are over before one is raised after all: a third Ctrl-C gets
#: out of an end-of-session step that hangs (a catalog that does not answer).
NOTED_AT_MOST = 2
_MAIN = threading.main_thread().ident


def _interrupt(name: str) -> KeyboardInterrupt:
    """Ctrl-C as Python raises it (bare); another stop signal names itself."""
    return KeyboardInterrupt() if name == "SIGINT" else KeyboardInterrupt(f"signal {name}")


def on_stop(signum: int, frame: FrameType | None) -> None:
    """The handler of every stop signal: KeyboardInterrupt now, or when `held` ends; once the
    tests are over (`note_only`), only noted."""
    global _noted
    name = signal.Signals(signum).name
    _pending.append(name)
    if _noting and _noted < NOTED_AT_MOST:
        _noted += 1
        return
    if _depth:
        _held.append(name)
        return
    raise _interrupt(name)


class _Held:
    """Context manager (re-entrant, shared): stop signals wait until the block ends."""

    __slots__ = ()

    def __enter__(self) -> None:
        global _depth
        if threading.get_ident() == _MAIN:
            _depth += 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _depth
        if threading.get_ident() != _MAIN or not _depth:
            return
        _depth -= 1
        if not _depth and _held:
            name = _held[-1]
            _held.clear()
            if kind is None:  # an error on its way out wins; the stop stays pending
                raise _interrupt(name)


held = _Held()


def pending() -> bool:
    """Whether a stop was received that pytest has not yet ended the session with (one held
    back, or raised and swallowed)."""
    return bool(_pending)


def received() -> str | None:
    """The name of the last stop pending (`pending`), or None."""
    return _pending[-1] if _pending else None


def raise_pending() -> None:
    """Raise again a stop whose KeyboardInterrupt was swallowed where it landed."""
    if _pending:
        raise _interrupt(_pending[-1])


def forget() -> None:
    """pytest has ended the session with the stop (or a new session starts): none is pending."""
    _pending.clear()
    _held.clear()


def note_only() -> None:
    """The tests are over: from now on a stop is noted as pending, not raised (until
    `raise_on_stop`); only a stop after NOTED_AT_MOST noted ones is raised."""
    global _noting, _noted
    _noting, _noted = True, 0


def raise_on_stop() -> None:
    """A stop raises KeyboardInterrupt again where it lands (or where `held` ends)."""
    global _noting
    _noting = False
