"""Interchange formats written from run files: STDF V4 for yield and ATE tools, CSV for
spreadsheets. Built from run files through `benchtest.results` only."""
