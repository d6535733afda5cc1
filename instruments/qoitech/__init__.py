"""Qoitech Otii power analyzer drivers (through the `otii-tcp-client` package)."""
