"""The values every layer shares: errors, measurements, waveforms, sweeps, ratings and run events.

Plain data with its own checks; nothing here talks to an instrument or a file. Every other
package of benchtest may import from here, and this package imports from none of them.
"""
