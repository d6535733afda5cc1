"""`UnsafeRoles`: the instruments whose safe state failed during a run, for the operator.

The run file logs every safe-state outcome (/run_info/safe_state_log); this keeps, per role,
how often it failed and how the last attempt ended, so that the end of the run can say which
instrument may still be sourcing, without anyone opening the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchtest.values.events import Event, SafeStateApplied


@dataclass
class RoleSafety:
    """One role's failed safe states, and its last outcome."""

    failures: int = 0
    last_failure: str = ""
    safe_now: bool = False  # the last attempt succeeded


class UnsafeRoles:
    """A recorder subscriber: `roles` holds each role whose safe state ever failed."""

    def __init__(self) -> None:
        self.roles: dict[str, RoleSafety] = {}

    def __call__(self, event: Event) -> None:
        if not isinstance(event, SafeStateApplied):
            return
        found = self.roles.get(event.role)
        if event.ok:
            if found is not None:
                found.safe_now = True
            return
        if found is None:
            found = self.roles[event.role] = RoleSafety()
        found.failures += 1
        found.last_failure = f"{event.message} ({event.time})"
        found.safe_now = False

    def lines(self) -> list[tuple[str, bool]]:
        """One line per role whose safe state failed, and whether it is still unsafe."""
        found = []
        for role, safety in self.roles.items():
            times = "once" if safety.failures == 1 else f"{safety.failures} times"
            if safety.safe_now:
                line = f"safe state of {role} failed {times}, then succeeded; last failure: "
            else:
                line = (
                    f"safe state of {role} FAILED {times}, the last time too: check it is off "
                    "before touching the DUT; last failure: "
                )
            found.append((line + safety.last_failure, not safety.safe_now))
        return found
