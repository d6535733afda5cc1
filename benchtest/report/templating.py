"""The Jinja environment of every page the report layer writes (templates in `templates/`):
autoescaped HTML, and an undefined name is an error rather than an empty string."""

from __future__ import annotations

import jinja2

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("benchtest.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
