"""Configuration: bench files and DUT profiles, validated against their JSON Schemas on load.

Also the register maps of a DUT profile, the checks of a plan against bench and profile that
need no instrument, and where the example files are (source tree or installed wheel).
"""
