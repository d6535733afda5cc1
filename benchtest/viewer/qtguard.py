"""A guard against a reference-count bug of PySide6 on Python 3.11: every call of a Qt method
that returns nothing takes one reference from `None` that it never gave (PySide6 6.12, built
for the immortal `None` of Python 3.12 and later). After some hundred thousand such calls,
a few seconds of panning, `None`'s count reaches zero and the interpreter aborts ("Fatal
Python error: none_dealloc"). Where the bug shows, `None` is given what Python 3.12 gives it:
a reference count that no number of calls can exhaust. Nothing changes where it does not.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6 import QtCore

#: What `None`'s count is raised by: far more than any session takes, far below overflow.
_RESERVE = 1 << 60
_PROBE_CALLS = 64


def none_loses_references() -> bool:
    """Whether a Qt method returning nothing takes a reference from None (the bug)."""
    point = QtCore.QPointF()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        point.setX(0.0)
    return sys.getrefcount(None) <= before - _PROBE_CALLS // 2


def guard_none() -> bool:
    """Make `None` immortal where this Python and PySide6 need it; whether it was done."""
    if sys.version_info >= (3, 12) or sys.getrefcount(None) >= _RESERVE:
        return False
    if not none_loses_references():
        return False
    # ob_refcnt is the first field of every object in CPython's non-debug builds
    ctypes.c_ssize_t.from_address(id(None)).value += _RESERVE
    return True


guard_none()
