"""`values.atomic.replacing`: a file is written whole or not at all, with the usual permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchtest.values.atomic import replacing


def test_the_new_file_replaces_the_old_one_whole(tmp_path: Path) -> None:
    target = tmp_path / "out" / "table.csv"
    with replacing(target) as temporary:
        temporary.write_text("a,b\n")
        assert not target.exists()  # nothing under the target's name until the block ends
    assert target.read_text() == "a,b\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), replacing(target, sync=True) as temporary:
        temporary.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_without_make_folder_a_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "table.csv"
    with pytest.raises(FileNotFoundError), replacing(target, make_folder=False) as temporary:
        temporary.write_text("x")
    assert not (tmp_path / "missing").exists()
