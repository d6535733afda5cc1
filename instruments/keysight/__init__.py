"""Keysight source-measure unit drivers."""
