"""The CRC-32 of the run file's records, log and seal: zlib's, computed by zlib-ng with SIMD.

The same values as `zlib.crc32`, 5-10x faster on a file of waveforms; on the small records
written per test (a journal record, a commit-log record) it still spends about a third of the
instructions zlib does.
"""

from __future__ import annotations

try:
    from zlib_ng.zlib_ng import crc32
except ImportError:  # pragma: no cover - zlib-ng is a dependency; plain zlib gives equal CRCs
    from zlib import crc32

__all__ = ["crc32"]
