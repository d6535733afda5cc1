"""`LdoModel`, kept here for its existing importers; the families live in `benchtest.sim.models`.

`benchtest.sim.models.build_model` chooses the model by the profile's `model.kind`.
"""

from __future__ import annotations

from benchtest.sim.models.ldo import LdoModel

__all__ = ["LdoModel"]
