"""Instrument simulators: each supported model's dialect (commands, replies, blocks, errors),
and the DUT's firmware console, translating protocol into calls on the simulated world.
"""
