"""Version of the benchtest distribution (read by the build backend and by run files)."""

__version__ = "0.1.0"
