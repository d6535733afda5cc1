"""Drivers for instruments that follow a common SCPI command set across vendors."""
