"""Plumbing of the simulated bench: TCP serving, SCPI syntax, services, timing and the journal.

Nothing here knows an instrument model or the DUT; the simulators are built on top of it.
"""
