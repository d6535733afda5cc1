"""JSON Schemas of benchtest configuration files (package data)."""
