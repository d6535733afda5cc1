"""`export_runs(runs, format, output)`: run files to one interchange file, STDF or CSV.

Everything that can be checked before writing is: the format, the optional library, every
run file (readable, a run file, not damaged), and that the output is not one of the inputs.
Only then is the file written, under a temporary name that is renamed when it is complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from benchtest.export.csv_file import write_csv
from benchtest.export.parts import ExportError, Part, read_parts
from benchtest.export.stdf_file import stdfast, write_stdf

#: format -> (file suffix, writer)
FORMATS: dict[str, tuple[str, Callable[[Sequence[Part], Path], Path]]] = {
    "stdf": (".stdf", write_stdf),
    "csv": (".csv", write_csv),
}
_SUFFIXES = {".stdf": "stdf", ".std": "stdf", ".csv": "csv"}


def format_of(output: str | os.PathLike[str]) -> str:
    """The format an output file's suffix names, or an `ExportError`."""
    suffix = Path(output).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ExportError(
            f"{output}: cannot tell the export format from the suffix {suffix!r}; "
            f"name it with --format ({' or '.join(FORMATS)})"
        )
    return _SUFFIXES[suffix]


def default_output(runs: Sequence[str | os.PathLike[str]], format: str) -> Path:
    """Beside the run file, with the format's suffix; several run files need an output name."""
    if len(runs) != 1:
        raise ExportError(
            f"{len(runs)} run files export to one file: name it with -o "
            f"(e.g. -o lot{FORMATS[format][0]})"
        )
    return Path(runs[0]).with_suffix(FORMATS[format][0])


def export_runs(
    runs: Sequence[str | os.PathLike[str]],
    format: str | None = None,
    output: str | os.PathLike[str] | None = None,
) -> Path:
    """Export the run files `runs` (each a part, or one per site when merged from several)
    to one file of `format` ("stdf" or "csv"; by default the one `output`'s suffix names) at
    `output` (by default beside a single run file). Returns the path written.

    Raises `ExportError` (or the reader's `ResultFileError`, both `BenchtestError`s) naming
    what is wrong and where; nothing is written then.
    """
    if format is None:
        if output is None:
            raise ExportError("name the export format: --format stdf or --format csv")
        format = format_of(output)
    name = format.lower()
    if name not in FORMATS:
        raise ExportError(f"unknown export format {format!r}: choose {' or '.join(FORMATS)}")
    if name == "stdf":
        stdfast()  # a missing library says so before any run file is read
    target = Path(output) if output is not None else default_output(runs, name)
    _refuse_overwriting_inputs(runs, target)
    parts = read_parts(runs)
    return FORMATS[name][1](parts, target)


def _refuse_overwriting_inputs(runs: Sequence[str | os.PathLike[str]], target: Path) -> None:
    if target.is_dir():
        raise ExportError(f"{target}: is a folder; name the export file")
    for run in runs:
        path = Path(run)
        if path.exists() and target.exists() and os.path.samefile(path, target):
            raise ExportError(f"{target}: is one of the run files to export; name another output")


__all__ = ["FORMATS", "default_output", "export_runs", "format_of"]
