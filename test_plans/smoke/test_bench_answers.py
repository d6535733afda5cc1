"""Smoke test: every role of the bench answers with its identity before any real testing.

Each instrument is opened (which also checks the driver against what answers) and asked to
identify itself: one test per usual role, so a report shows at a glance which instrument is
missing, and one more for any other role the bench file names.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from instruments.capabilities import Instrument

ROLES = ("smu", "scope", "uart", "psu", "dmm", "load", "chamber")  # the roles benches name


def silence(instrument: Instrument) -> str:
    """Why `instrument` gave no usable identity ('' when it did)."""
    identity = instrument.identify()
    return "" if identity.model.strip() else f"an empty identity {identity}"


@pytest.mark.parametrize("role", ROLES)
def test_role_answers_with_its_identity(role: str, bench: Mapping[str, Instrument]) -> None:
    if role not in bench:
        pytest.skip(f"the bench has no {role} role")
    problem = silence(bench[role])
    assert not problem, f"{role} answered {problem}"


def test_other_roles_answer(bench: Mapping[str, Instrument]) -> None:
    others = [role for role in bench if role not in ROLES]
    if not others:
        pytest.skip("the bench has no other roles")
    problems = {role: silence(bench[role]) for role in others}
    assert not any(problems.values()), f"roles without an identity: {problems}"
