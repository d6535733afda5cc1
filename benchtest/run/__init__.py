"""A run's live objects: the recorder and its events' fan-out, the `measure` handle, the
instruments of a bench and the session of one DUT, and the merging of a multi-site run.
"""
