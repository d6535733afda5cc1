"""benchtest's instrument drivers, by vendor, and the capabilities test plans ask for.

The import name `instruments` is also used by InstrumentKit; `__benchtest__` lets benchtest
check at start-up that this package, not another distribution's, was imported.
"""

__benchtest__ = True
