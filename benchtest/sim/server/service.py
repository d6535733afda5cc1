"""`Service`: something with `start()` and `stop()` that can be used as a context manager.

Simulators, the simulated bench and the simulator process all start in `__enter__` and stop
(joining their threads or reaping their process) in `__exit__`, whatever happened in between.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Service:
    """Mixin: `with service:` starts it and always stops it."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
