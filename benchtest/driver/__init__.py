"""Instrument drivers' building blocks: base class, transport, declarative SCPI, shared flows.

Also the driver registry (registry names to classes, through entry points), the lock that gives
one process an instrument, and scripted conversations for byte-level driver tests. The
vendors' drivers themselves live in the top-level `instruments` package.
"""
