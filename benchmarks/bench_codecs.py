"""The compression codecs hdf5plugin offers, on waveform codes: write speed and size.

Two records, as instruments deliver them: 12-bit ADC codes as int16 (a noisy step with
ringing) and 8-bit scope codes as int8 (the same signal, as a DS1000Z `:WAV:FORM BYTE`
readout). Each codec writes each record to an HDF5 file with bare h5py (mode "w", truncating
the last sample's file; same chunks as the writer), interleaved with its baseline
`numpy.tofile` of the same bytes (overwriting its file), both in the page cache (no fsync):
median and spread of the throughput ratio, and the compression ratio. Blosc
and Blosc2 run once with one thread and once with two (BLOSC_NTHREADS, in a child process).

Then the run writer with its fast codec (`compression="fast"`, its chunks compressed in parallel
threads, `benchtest.storage.chunks`) against bare h5py with the same filter and chunks, 2 *
pairs + 1 interleaved pairs, each side writing a new file (the old one removed untimed): the
whole run file (header, test, waveform, close, seal), and the fixed cost of a run file
without waveform against an empty h5py file. Printed besides: bare h5py without a chunk
cache, as the writer writes its waveforms, and the load average before (the threads help only
where a core is free).

Targets: the default fast codec writes >= 0.25x `numpy.tofile`, and the writer is within 1.2x
bare h5py with the same filter. Exit status 1 when one is missed.

    python benchmarks/bench_codecs.py [--quick] [--pairs N] [--writer-only]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import targets
from targets import interleaved, summarize, timed

from benchtest.runfile.codecs import FAST
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.chunks import workers
from benchtest.storage.example import run_started
from benchtest.storage.nexus import chunk_points
from benchtest.values.events import RunFinished, TestFinished, TestStarted, WaveformRecorded
from benchtest.values.waveform import Waveform

T0 = "2026-11-28T15:43:00+00:00"
TOFILE_TARGET = 0.25
WRITER_TARGET = 1.2


def step_codes(n: int, bits: int, seed: int = 1) -> np.ndarray:
    """A step with damped ringing and 1.5 LSB of noise, as `bits`-bit codes (int8 or int16)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / n
    edge = t >= 0.3
    after = np.where(edge, t - 0.3, 0.0)
    ringing = np.exp(-after * 60) * np.sin(after * 2 * np.pi * 40)
    full = 2 ** (bits - 1) - 1
    signal = full * (0.1 + 0.7 * edge * (1 - ringing)) - full / 2
    dtype = np.int8 if bits <= 8 else np.int16
    codes: np.ndarray = np.round(signal + rng.normal(0, 1.5, n)).clip(-full - 1, full)
    return codes.astype(dtype)


def plugin_codecs() -> dict[str, Callable[[], dict[str, Any]]]:
    """h5py filter arguments by codec label (hdf5plugin imported on call)."""
    import hdf5plugin as p

    bit, byte = p.Blosc.BITSHUFFLE, p.Blosc.SHUFFLE
    return {
        "gzip-1 + shuffle (built in)": lambda: {
            "compression": "gzip",
            "compression_opts": 1,
            "shuffle": True,
        },
        "LZ4 (32004)": lambda: dict(p.LZ4()),
        "Bitshuffle + LZ4 (32008)": lambda: dict(p.Bitshuffle(cname="lz4")),
        "Zstd 1 (32015)": lambda: dict(p.Zstd(clevel=1)),
        "Blosc LZ4 no shuffle": lambda: dict(
            p.Blosc(cname="lz4", clevel=5, shuffle=p.Blosc.NOSHUFFLE)
        ),
        "Blosc LZ4 byte-shuffle": lambda: dict(p.Blosc(cname="lz4", clevel=5, shuffle=byte)),
        "Blosc LZ4 bit-shuffle (fast default)": lambda: dict(FAST.filter_args()),
        "Blosc Zstd-1 bit-shuffle": lambda: dict(p.Blosc(cname="zstd", clevel=1, shuffle=bit)),
        "Blosc2 LZ4 bit-shuffle": lambda: dict(
            p.Blosc2(cname="lz4", clevel=5, filters=p.Blosc2.BITSHUFFLE)
        ),
        "Blosc2 LZ4 byte-shuffle": lambda: dict(
            p.Blosc2(cname="lz4", clevel=5, filters=p.Blosc2.SHUFFLE)
        ),
    }


THREADED = ("Blosc ", "Blosc2 ")


def bare_write(path: Path, codes: np.ndarray, args: dict[str, Any]) -> int:
    """Write `codes` as one chunked dataset with bare h5py; return its stored bytes."""
    with h5py.File(path, "w") as f:
        chunks = (chunk_points(codes.dtype, len(codes)),)
        dataset = f.create_dataset(
            "codes", shape=codes.shape, dtype=codes.dtype, chunks=chunks, **args
        )
        dataset[...] = codes
        stored: int = dataset.id.get_storage_size()
    return stored


def measure_codecs(
    folder: Path, pairs: int, quick: bool, only_threaded: bool
) -> list[dict[str, Any]]:
    """One row per (record, codec): throughput ratio to tofile, and compression ratio."""
    rows = []
    raw = folder / "raw.bin"
    n = 200_000 if quick else 10_000_000
    for record, codes in (("int16 12-bit", step_codes(n, 12)), ("int8 8-bit", step_codes(n, 8))):
        for label, make in plugin_codecs().items():
            if only_threaded and not label.startswith(THREADED):
                continue
            args, path = make(), folder / "codec.h5"
            pair = interleaved(
                lambda c=codes: timed(lambda: c.tofile(raw)),  # type: ignore[misc]
                lambda c=codes, a=args, p=path: timed(lambda: bare_write(p, c, a)),  # type: ignore[misc]
                pairs,
            )
            ratio = summarize(pair.ratios(throughput=True))
            mb = codes.nbytes / 1e6
            rows.append(
                {
                    "record": record,
                    "codec": label,
                    "threads": int(os.environ.get("BLOSC_NTHREADS", "1")),
                    "mb_s": mb / summarize(pair.measured).median,
                    "tofile_mb_s": mb / summarize(pair.baseline).median,
                    "ratio": ratio.median,
                    "low": ratio.low,
                    "high": ratio.high,
                    "size_ratio": codes.nbytes / bare_write(path, codes, args),
                }
            )
    return rows


def write_run(path: Path, codes: np.ndarray | None) -> None:
    """One run file, one test, optionally one waveform of `codes`, through the writer."""
    with Hdf5RunWriter(path, compression="fast", sync="never") as writer:
        writer(run_started())
        writer(TestStarted("bench.py::test_capture", T0))
        if codes is not None:
            wf = Waveform(codes, dt=1e-7, scale=1e-3)
            writer(WaveformRecorded("bench.py::test_capture", "ch1", wf))
        writer(TestFinished("bench.py::test_capture", "passed", T0, 1.0))
        writer(RunFinished(T0, "passed"))


def bare_no_cache(path: Path, codes: np.ndarray, args: dict[str, Any]) -> None:
    """`bare_write` opened without a chunk cache, as the writer writes its waveforms."""
    with h5py.File(path, "w") as f:
        access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
        access.set_chunk_cache(0, 0, 1.0)
        chunks = (chunk_points(codes.dtype, len(codes)),)
        dataset = f.create_dataset(
            "codes", shape=codes.shape, dtype=codes.dtype, chunks=chunks, dapl=access, **args
        )
        dataset[...] = codes


def fresh(path: Path, action: Callable[[], object]) -> Callable[[], float]:
    """A sampler: seconds `action` took to write the new file `path` (removed first, untimed,
    on both sides of every comparison)."""

    def sample() -> float:
        path.unlink(missing_ok=True)
        return timed(action)

    return sample


def writer_against_bare(folder: Path, pairs: int, quick: bool) -> list[bool]:
    """The writer with the fast codec against bare h5py with the same filter and chunks."""
    n = 1_200_000 if quick else 10_000_000  # above the plot-copy threshold: codes only
    codes = step_codes(n, 12)
    args = FAST.filter_args()
    run_path, bare_path, raw = folder / "run.h5", folder / "bare.h5", folder / "raw.bin"
    run = fresh(run_path, lambda: write_run(run_path, codes))
    whole = interleaved(fresh(bare_path, lambda: bare_write(bare_path, codes, args)), run, pairs)
    no_cache = interleaved(
        fresh(bare_path, lambda: bare_no_cache(bare_path, codes, args)), run, pairs
    )
    fixed = interleaved(
        fresh(bare_path, lambda: h5py.File(bare_path, "w").close()),
        fresh(run_path, lambda: write_run(run_path, None)),
        pairs,
    )
    to_file = interleaved(fresh(raw, lambda: codes.tofile(raw)), run, pairs)
    mb = codes.nbytes / 1e6
    ms = summarize([t * 1e3 for t in fixed.measured])
    print(
        f"the writer compresses a waveform's chunks in {workers()} thread(s) now (the cores "
        f"left free by the load, {os.getloadavg()[0]:.1f}); bare h5py in one"
    )
    print(
        f"fixed cost of a run file without waveform (header, one test, close, seal): "
        f"{ms.text(unit='ms')}; an empty h5py file "
        f"{summarize([t * 1e3 for t in fixed.baseline]).text(unit='ms')}"
    )
    print(
        f"bare h5py without a chunk cache (as the writer writes): "
        f"{summarize(no_cache.baseline).text(1e3, 'ms')}; the writer against it "
        f"{summarize(no_cache.ratios(throughput=False)).text()}x"
    )
    met = [
        targets.result(
            "codecs: fast codec writer vs numpy.tofile (throughput)",
            f"{mb / summarize(to_file.measured).median:.0f} MB/s",
            f"{mb / summarize(to_file.baseline).median:.0f} MB/s",
            summarize(to_file.ratios(throughput=True)),
            TOFILE_TARGET,
            at_least=True,
            included=f"whole run file (header, test, {n / 1e6:g} M int16 codes, close, seal) "
            "against tofile of the codes; each a new file; page cache, no fsync on either side",
        ),
        targets.result(
            "codecs: fast codec writer vs bare h5py, same filter (time)",
            summarize(whole.measured).text(1e3, "ms"),
            summarize(whole.baseline).text(1e3, "ms"),
            summarize(whole.ratios(throughput=False)),
            WRITER_TARGET,
            at_least=False,
            included="writer: whole run file (header, test, codes, close, space claimed and cut, "
            "seal); bare: one new file, one dataset, same filter and chunks, h5py defaults; "
            "page cache, no fsync on either side",
        ),
    ]
    return met


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| record | codec | threads | MB/s | x tofile [spread] | compression |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['record']} | {r['codec']} | {r['threads']} | {r['mb_s']:.0f} | "
            f"{r['ratio']:.3f} [{r['low']:.3f}-{r['high']:.3f}] | {r['size_ratio']:.2f}x |"
        )
    return "\n".join(lines)


def threaded_rows(pairs: int, quick: bool) -> list[dict[str, Any]]:
    """The Blosc rows again, in a child process with BLOSC_NTHREADS=2."""
    args = [sys.executable, __file__, "--rows-only", "--pairs", str(pairs)]
    args += ["--quick"] if quick else []
    environment = {**os.environ, "BLOSC_NTHREADS": "2"}
    done = subprocess.run(args, capture_output=True, text=True, env=environment, check=True)
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def main() -> int:
    parser = targets.arguments(__doc__)
    parser.add_argument("--pairs", type=int, default=None, help="interleaved pairs per codec")
    parser.add_argument(
        "--writer-only", action="store_true", help="skip the codec table: only the writer's targets"
    )
    parser.add_argument("--rows-only", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    pairs = options.pairs or (2 if options.quick else 7)
    os.environ.setdefault("BLOSC_NTHREADS", "1")
    with tempfile.TemporaryDirectory(prefix="bench_codecs_") as name:
        folder = Path(name)
        if options.rows_only:
            print(json.dumps(measure_codecs(folder, pairs, options.quick, only_threaded=True)))
            return 0
        if not options.writer_only:
            rows = measure_codecs(folder, pairs, options.quick, only_threaded=False)
            rows += threaded_rows(pairs, options.quick)
            rows.sort(key=lambda r: (r["record"], r["codec"], r["threads"]))
            print(f"codecs against numpy.tofile, page cache, {pairs} interleaved pairs each:")
            print(table(rows))
        # The writer's comparisons take ~30 ms a sample: more pairs, a steadier median.
        met = writer_against_bare(folder, pairs if options.quick else 2 * pairs + 1, options.quick)
    return targets.exit_status(met)


if __name__ == "__main__":
    sys.exit(main())
