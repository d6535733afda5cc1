"""Whether a run file is as its writer left it: the seal checked, and damage put in words.

A run file closed by its writer carries a seal (`benchtest.runfile.seal`): a CRC-32 of every
region of its bytes. `seal_damage` checks it and names, for every region that changed, the
HDF5 objects stored there (a table's rows, a waveform's samples, an object's header), so a
reader can say where a file is damaged and what that touches. `unopenable` says what a file
that HDF5 cannot open at all is: damaged (with the same detail where its seal survives), or
not a run file.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchtest.runfile import schema
from benchtest.runfile.seal import (
    Seal,
    SealDamagedError,
    changed_regions,
    read_seal_at,
    search_seal,
)

#: The HDF5 superblock (version 0, with the root group's entry) at the start of a run file.
SUPERBLOCK_BYTES = 136
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Ranges named one by one in a damage report; the others are counted.
MAX_RANGES = 8
#: Bytes of a file searched for signs that it is a run file, when HDF5 cannot open it.
_MARKERS = (b"benchtest_schema_version", b"NXroot", b"benchtest")
_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError)

Span = tuple[int, int, str]


def _seal_of(path: Path, file: h5py.File | None) -> Seal | None:
    """The file's seal: where HDF5 says it is, else found by its header. None: unsealed.

    Raises SealDamagedError for a seal that is there and damaged.
    """
    offset = None
    if file is not None:
        try:
            offset = file[schema.SUMMARY][schema.SEAL].id.get_offset()
        except _ERRORS:
            offset = None
    if offset is not None:
        return read_seal_at(path, offset)
    return search_seal(path)


def seal_damage(path: Path, file: h5py.File | None) -> tuple[list[str], bool]:
    """What the seal says is damaged (each message starts "<path>: damaged:"), and whether the
    file was sealed (see `unsealed`)."""
    try:
        seal = _seal_of(path, file)
    except SealDamagedError as exc:
        return [f"{path}: damaged: its seal (the checksums written when the run closed) is "
                f"damaged: {exc}; the rest of the file cannot be verified"], False  # fmt: skip
    except OSError as exc:
        return [f"{path}: damaged: its seal cannot be read: {exc}"], False
    if seal is None:
        return [], False
    return _compare(path, file, seal), True


def unsealed(path: Path, file: h5py.File, finished: bool) -> str | None:
    """What to say of a file without a seal whose run `finished`: its writer seals it after
    its last write, so it was stopped in between (killed while closing the file). What it
    holds is as its writer committed it, as in any killed run's file, but cannot be checked
    against a seal. None for a sealed file, a run that did not finish (killed earlier: no
    seal expected) and a file from before run files were sealed."""
    if not finished or not _has_seal_dataset(file):
        return None
    return (
        f"{path}: not sealed: the run finished, but its writer was stopped before it sealed "
        "the file (killed while closing it); what it holds cannot be checked against a seal"
    )


def _has_seal_dataset(file: h5py.File) -> bool:
    try:
        return schema.SEAL in file[schema.SUMMARY]
    except _ERRORS:
        return False


def _compare(path: Path, file: h5py.File | None, seal: Seal) -> list[str]:
    size = path.stat().st_size
    damage: list[str] = []
    if size < seal.length:
        damage.append(
            f"{path}: damaged: truncated to {size} of the {seal.length} bytes it had when "
            "the run closed"
        )
    elif size > seal.length:
        damage.append(
            f"{path}: damaged: {size - seal.length} bytes were added after its end "
            f"({seal.length} bytes when the run closed)"
        )
    changed = [(a, min(b, size)) for a, b in changed_regions(path, seal) if a < size]
    spans = storage_map(file) if file is not None and (changed or size < seal.length) else []
    if size < seal.length:
        lost = [label for _, high, label in spans if high > size]
        more = " and more" if len(lost) > 6 else ""
        damage[-1] += (
            f"; the missing part held {'; '.join(lost[:6])}{more}"
            if lost
            else "; what the missing part held can no longer be located"
        )
        if changed and changed[-1][1] == size:
            changed.pop()  # the region cut short: the truncation says it
    if changed:
        for start, stop in changed[:MAX_RANGES]:
            damage.append(
                f"{path}: damaged: bytes {start}-{stop - 1} changed since the run closed, "
                f"in {describe(start, stop, spans)}"
            )
        if len(changed) > MAX_RANGES:
            damage.append(f"{path}: damaged: {len(changed) - MAX_RANGES} more ranges changed")
    return damage


def describe(start: int, stop: int, spans: list[Span]) -> str:
    """The objects stored in bytes `[start, stop)` of a file whose `spans` are known."""
    found = [label for low, high, label in spans if low < stop and start < high]
    if start < SUPERBLOCK_BYTES and not found:
        found = ["the HDF5 superblock (where HDF5 starts reading the file)"]
    if not found:
        return (
            "HDF5's own structures (a group's index of its members or their names, or "
            "space between objects): the names and links of groups may be affected"
        )
    shown = "; ".join(dict.fromkeys(found[:6]))
    return shown + (f"; and {len(found) - 6} more" if len(found) > 6 else "")


def storage_map(file: h5py.File) -> list[Span]:
    """The byte spans of the objects of `file` that can still be found: each object's header,
    each dataset's data (per chunk, naming the rows or samples it holds)."""
    spans: list[Span] = [(0, SUPERBLOCK_BYTES, "the HDF5 superblock")]
    datasets: list[str] = []

    def visit(name: bytes, info: Any) -> None:  # `info` is reused: read it now
        path = "/" + name.decode("utf-8", "replace")
        spans.append(_header(path, info))
        if info.type == h5py.h5o.TYPE_DATASET:
            datasets.append(path)

    with contextlib.suppress(*_ERRORS):  # a damaged group: the objects found so far
        spans.append(_header("/", h5py.h5o.get_info(file.id)))
        h5py.h5o.visit(file.id, visit, info=True)
    for name in datasets:
        with contextlib.suppress(*_ERRORS):
            spans.extend(_data(file[name], name))
    return spans


def _header(name: str, info: Any) -> Span:
    if info.type == h5py.h5o.TYPE_GROUP:
        what = f"the header of group {name} (its attributes and members)"
    else:
        what = f"the header of dataset {name} (its type, shape, attributes)"
    return (info.addr, info.addr + info.hdr.space.total, what)


def _data(dataset: h5py.Dataset, name: str) -> list[Span]:
    unit = "rows" if dataset.dtype.names else "elements"
    if dataset.chunks is None:
        offset = dataset.id.get_offset()
        if offset is None:
            return []  # compact (in the header) or never written
        return [(offset, offset + dataset.id.get_storage_size(), f"{name} (its data)")]
    rows = int(np.prod(dataset.chunks[1:], dtype=np.int64)) if len(dataset.chunks) > 1 else 1
    spans: list[Span] = []
    for index in range(dataset.id.get_num_chunks()):
        chunk = dataset.id.get_chunk_info(index)
        first = int(chunk.chunk_offset[0])
        last = min(first + dataset.chunks[0], dataset.shape[0]) - 1
        label = f"{name} ({unit} {first}-{last})" if rows == 1 else f"{name} (rows {first}-{last})"
        spans.append((chunk.byte_offset, chunk.byte_offset + chunk.size, label))
    return spans


def looks_like_run(path: Path) -> bool:
    """Whether the bytes of `path` show signs of a benchtest run file or an HDF5 file."""
    with path.open("rb") as file:
        head = file.read(1 << 20)
    if not head:
        return False
    return HDF5_SIGNATURE.startswith(head[:8]) or any(m in head for m in _MARKERS)


def unopenable(path: Path, reason: str) -> str:
    """The message for a file that HDF5 cannot open: what it is, and whether it is damaged
    (where, when its seal tells); nothing of it is readable."""
    size = path.stat().st_size
    if size == 0:
        return f"{path}: damaged or never written: empty (0 bytes); nothing is readable"
    try:
        seal = search_seal(path)
    except OSError:
        seal = None
    if seal is not None:
        where = [m.split(": damaged: ", 1)[1] for m in _compare(path, None, seal)]
        detail = "; ".join(where) or "its seal matches, but HDF5 refuses it"
        return f"{path}: damaged: HDF5 cannot open it ({reason}); {detail}; nothing is readable"
    if looks_like_run(path):
        return (
            f"{path}: damaged: HDF5 cannot open it ({reason}); {size} bytes, no readable "
            "seal; nothing is readable"
        )
    return f"{path}: not an HDF5 file ({size} bytes, no HDF5 signature): not a run file"


def not_a_run(path: Path, file: h5py.File, why: str) -> str:
    """The message for an HDF5 file in which no run can be found (`why`): damaged when it
    is sealed or its root cannot be read, else not a run file."""
    try:
        seal = _seal_of(path, file)
    except (SealDamagedError, OSError):
        seal = None
    if seal is not None:
        where = [m.split(": damaged: ", 1)[1] for m in _compare(path, file, seal)]
        detail = "; ".join(where) or "its seal matches"
        return f"{path}: damaged: {why}; {detail}; nothing is readable"
    if why.startswith("its root cannot be read"):
        return f"{path}: damaged: {why}; nothing is readable"
    return f"{path}: not a benchtest run file ({why}, and none of a run file's groups)"
