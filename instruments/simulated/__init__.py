"""Drivers of instruments that only the simulated bench has (its current profiler)."""
