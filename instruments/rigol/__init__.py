"""Rigol oscilloscope and power-supply drivers."""
