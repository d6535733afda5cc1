"""Configuration files remembered as valid (`benchtest.config.valid_files`): a file whose exact
bytes passed the same schema before is not validated again, so jsonschema is not even imported;
any change to the file, the schema or the installed jsonschema validates it again; a file that
fails is never remembered."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchtest.config.bench import Bench
from benchtest.config.files import schema_bytes
from benchtest.config.valid_files import ValidFiles
from benchtest.values.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
BENCH = "schema_version: 1\ninstruments:\n  smu: {driver: keithley.k2450, resource: sim://smu}\n"
# The same bench, one instrument too many fields: jsonschema refuses it.
BAD_BENCH = BENCH.replace("resource: sim://smu}", "resource: sim://smu, colour: red}")


def load_in_new_process(path: Path, cache: Path) -> tuple[str, bool]:
    """Load the bench `path` in a fresh interpreter with the cache folder `cache`: the error
    (or ""), and whether jsonschema was imported."""
    script = textwrap.dedent(
        f"""
        import sys
        from benchtest.config.bench import Bench
        from benchtest.values.errors import ConfigError
        try:
            Bench.load({str(path)!r})
            error = ""
        except ConfigError as exc:
            error = str(exc)
        print(repr((error, "jsonschema" in sys.modules)))
        """
    )
    env = {**os.environ, "BENCHTEST_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    error, imported = ast.literal_eval(done.stdout.strip())
    return error, imported


def test_a_valid_file_is_validated_once_then_known(tmp_path: Path) -> None:
    bench, cache = tmp_path / "bench.yaml", tmp_path / "cache"
    bench.write_text(BENCH, encoding="utf-8")
    assert load_in_new_process(bench, cache) == ("", True)  # validated by jsonschema
    assert len(list((cache / "valid-files").iterdir())) == 1
    assert load_in_new_process(bench, cache) == ("", False)  # known: jsonschema not imported
    bench.write_text(BENCH + "# a comment\n", encoding="utf-8")  # other bytes, same meaning
    assert load_in_new_process(bench, cache) == ("", True)
    assert len(list((cache / "valid-files").iterdir())) == 2


def test_a_file_that_fails_is_never_remembered(tmp_path: Path) -> None:
    bench, cache = tmp_path / "bench.yaml", tmp_path / "cache"
    bench.write_text(BENCH, encoding="utf-8")
    load_in_new_process(bench, cache)  # the valid version of the same path is known
    bench.write_text(BAD_BENCH, encoding="utf-8")
    for _ in range(2):
        error, imported = load_in_new_process(bench, cache)
        assert "instruments.smu" in error and "colour" in error and imported
    assert len(list((cache / "valid-files").iterdir())) == 1


def test_the_key_covers_file_schema_and_format_version() -> None:
    valid = ValidFiles(None)
    schema = schema_bytes("bench")
    key = valid.key(schema, "ab" * 32)
    assert key == valid.key(schema, "ab" * 32)
    assert key != valid.key(schema, "cd" * 32)  # another file
    assert key != valid.key(schema + b" ", "ab" * 32)  # another schema text
    assert key != valid.key(schema_bytes("dut"), "ab" * 32)


def test_a_cache_folder_that_cannot_be_written_validates_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("BENCHTEST_CACHE_DIR", str(blocker))  # mkdir under a file fails
    bench = tmp_path / "bench.yaml"
    bench.write_text(BENCH, encoding="utf-8")
    assert list(Bench.load(bench).roles) == ["smu"]
    assert list(Bench.load(bench).roles) == ["smu"]
    bench.write_text(BAD_BENCH, encoding="utf-8")
    with pytest.raises(ConfigError, match="colour"):
        Bench.load(bench)


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHTEST_CACHE_DIR", "/somewhere/else")
    assert ValidFiles.default().folder == Path("/somewhere/else/valid-files")
    monkeypatch.delenv("BENCHTEST_CACHE_DIR")
    if os.name != "nt":
        monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
        assert ValidFiles.default().folder == Path("/xdg/benchtest/valid-files")
        monkeypatch.delenv("XDG_CACHE_HOME")
        home = Path.home()
        assert ValidFiles.default().folder == home / ".cache" / "benchtest" / "valid-files"
