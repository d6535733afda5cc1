"""The run recorder: the runner emits events, subscribers (HDF5 writer, summaries) store them.

The events themselves are data (`benchtest.values.events`), so the writer and the readers that
consume them sit below the recorder.
"""

from __future__ import annotations

from benchtest.values.events import Event, Subscriber


class RunRecorder:
    """Fans events out to subscribers, in subscription order.

    A subscriber may ask for some kinds of event only (`subscribe(tally, TestFinished)`): it
    is then not called for the others, which matters for the thousands of measurements of a
    run. Which subscribers take an event is found once per event type."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, tuple[type, ...]]] = []
        self._routes: dict[type, tuple[Subscriber, ...]] = {}

    def subscribe(self, subscriber: Subscriber, *kinds: type) -> None:
        """Call `subscriber` with every event emitted from now on, or with those of `kinds`
        (event classes) when given."""
        self._subscribers.append((subscriber, kinds))
        self._routes.clear()

    def emit(self, event: Event) -> None:
        route = self._routes.get(type(event))
        if route is None:
            route = self._routes[type(event)] = self._route(type(event))
        for subscriber in route:
            subscriber(event)

    def _route(self, kind: type) -> tuple[Subscriber, ...]:
        return tuple(
            subscriber
            for subscriber, kinds in self._subscribers
            if not kinds or issubclass(kind, kinds)
        )
