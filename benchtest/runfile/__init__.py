"""The run file's format, shared by the writer (`benchtest.storage`) and the reader
(`benchtest.results`): names and table layouts, codecs, growable tables, the commit journal.
"""
