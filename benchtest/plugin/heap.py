"""What a bench run has built by the end of collection, left out of the garbage collector's walks.

By then the run holds what it keeps to the end: the imported modules (numpy, h5py, jsonschema,
pytest's own), the bench and DUT models, and the collected tests. CPython's full collections
walk every object each time: with 5 000 trivial tests the collector took ~0.28 s of CPU, half
of it in the two collections pytest makes at the end, and ~0.1 s with that heap frozen.
`gc.freeze()` moves what exists when the session starts, and again once collection is done,
out of the collector's view; `gc.unfreeze()` gives it back after pytest's own end-of-run
collections, and a cycle among those objects that became garbage in between is freed then.
Objects the tests make are collected as ever; `gc.get_objects()` and `gc.get_referrers()`
in a test do not list the frozen ones. A process that froze objects itself is left as it is.

While the tests run, the young generation is collected every `YOUNG_THRESHOLD` allocations
rather than CPython's 700: a test's objects mostly die with it, freed by their reference
counts, and each collection walked the few still alive and promoted them to be walked again
(5 000 trivial tests: ~280 young and ~24 middle collections, 73-117 ms of CPU with the full
ones, against ~20 young and no middle one, 40-46 ms). Garbage in cycles waits a little
longer for its collection. The thresholds are put back with the heap.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import gc
from functools import partial

import pytest

from benchtest.plugin.configuration import settings

FROZEN = pytest.StashKey[bool]()
#: The collector's thresholds before the bench run set its own.
THRESHOLDS = pytest.StashKey[tuple[int, int, int]]()
#: Allocations between collections of the young generation during a bench run.
YOUNG_THRESHOLD = 10_000


def pytest_configure(config: pytest.Config) -> None:
    # pytest configures the newest plugins first and runs the cleanups last in, first out:
    # this one, added before the cleanup of pytest's `unraisableexception` plugin (which
    # collects garbage), runs after it.
    config.add_cleanup(partial(_thaw, config))


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The imports and the bench and DUT models, before collection's own full collections."""
    _freeze(session.config)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """And the collected tests, before they run."""
    _freeze(session.config)


def _freeze(config: pytest.Config) -> None:
    if settings(config) is None:
        return  # not a bench run
    if gc.get_freeze_count() and not config.stash.get(FROZEN, False):
        return  # the process froze objects of its own: not ours to thaw
    gc.freeze()
    config.stash[FROZEN] = True
    if THRESHOLDS not in config.stash:
        young, middle, old = config.stash[THRESHOLDS] = gc.get_threshold()
        if young:  # 0: the process turned automatic collection off; left as it is
            gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)


def _thaw(config: pytest.Config) -> None:
    if THRESHOLDS in config.stash:
        gc.set_threshold(*config.stash[THRESHOLDS])
        del config.stash[THRESHOLDS]
    if config.stash.get(FROZEN, False):
        del config.stash[FROZEN]
        gc.unfreeze()
