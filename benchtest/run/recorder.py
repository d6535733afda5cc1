"""The run recorder: the runner emits events, subscribers (HDF5 writer, summaries) store them.

The events themselves are data (`benchtest.values.events`), so the writer and the readers that
consume them sit below the recorder.
"""

from __future__ import annotations

from benchtest.values.events import Event, Subscriber


class RunRecorder:
    """Fans events out to subscribers, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            subscriber(event)
