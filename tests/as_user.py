"""Running a step as another user, for tests of what a user without rights sees."""

from __future__ import annotations

import os
from collections.abc import Callable


def in_a_child_as(uid: int, step: Callable[[], str], failed: Callable[[Exception], str]) -> str:
    """What `step` returns in a forked process of user (and group) `uid`, or `failed(error)`
    when it raises. Forked, not started, so the child needs no access to the Python
    installation; it leaves with `os._exit`, cleaning nothing up."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the other user, try, report, leave
        try:
            os.close(read)
            os.setgid(uid)
            os.setuid(uid)
            try:
                told = step()
            except Exception as exc:  # reported to the parent, whatever it is
                told = failed(exc)
            os.write(write, told.encode("utf-8"))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        told = pipe.read().decode("utf-8")
    os.waitpid(pid, 0)
    return told
