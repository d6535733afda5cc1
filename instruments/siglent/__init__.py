"""Siglent oscilloscope and power-supply drivers."""
