"""Nordic Semiconductor Power Profiler Kit II drivers (through the `ppk2-api` package)."""
