"""Keithley source-measure unit drivers."""
