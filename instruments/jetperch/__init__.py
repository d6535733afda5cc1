"""Jetperch Joulescope energy analyzer drivers (through the `joulescope` package)."""
