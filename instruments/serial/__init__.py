"""Drivers for DUT debug ports over serial lines (pyserial)."""
