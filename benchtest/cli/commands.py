"""The `benchtest` command: demo, sim, run, report.

Each sub-command is a thin layer over a library function, so scripts can do the same without
the command line. Errors from benchtest end the command with one clear line and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from benchtest.__about__ import __version__
from benchtest.cli.arguments import positive_number
from benchtest.values.errors import BenchtestError


def _demo(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.cli.demo import run_demo

    return run_demo(Path(args.results_dir), extra)


def _sim(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.sim.__main__ import serve

    return serve(
        dut=args.dut, bench=args.bench, print_bench=args.print_bench, write_bench=args.write_bench
    )


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    """pytest with the command line as given: every `run` option is also a pytest option, and
    pytest alone knows which of its own options take a value (`-k EXPR`). The plugin's options
    that take one are written `--dut=PATH`, so pytest does not find its rootdir from PATH."""
    import pytest

    from benchtest.cli.run_options import joined_values

    return int(pytest.main(joined_values(args.arguments, args.parser)))


def _names_a_plan(argument: str) -> bool:
    """Whether a positional argument is a plan file or folder (or a test in one)."""
    return Path(argument.split("::", 1)[0]).exists()


def _host_port(text: str) -> str:
    """A `--socket` value: HOST:PORT with a port from 1 to 65535."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (port 1-65535), got {text!r}")
    return text


def _scan(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.cli.discovery import scan_report

    report = scan_report(
        identify=not args.no_identify,
        timeout=args.timeout,
        lan=args.lan,
        sockets=args.socket,
        visa_library=args.visa_library,
    )
    if not report.found:
        print("no VISA resources or serial ports found")
    for item in report.found:
        detail = item.identity or item.problem
        print(f"{item.kind:<7} {item.resource:<40} {detail}")
    print("\nInterfaces searched:")
    for status in report.interfaces:
        print(*(f"  {line}" for line in status.lines()), sep="\n")
    return 0


def _check(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.cli.discovery import check_bench

    if not args.sim:
        bench, results = check_bench(args.bench, args.dut, visa_library=args.visa_library)
    else:
        from benchtest.config.assets import DEMO_DUT, asset
        from benchtest.sim.process import SimulatorProcess

        dut = args.dut or asset(DEMO_DUT)
        with SimulatorProcess(dut=dut, bench=args.bench) as simulator:
            bench, results = check_bench(simulator.bench_path, dut, visa_library=args.visa_library)
    print(f"bench {bench.name!r} ({args.bench}): {len(bench.roles)} roles")
    for result in results:
        status = "ok  " if result.ok else "FAIL"
        print(f"{status} {result.role:<10} {result.driver:<20} {result.resource}")
        print(f"       {result.identity or result.problem}")
        if result.warning:
            print(f"       warning: {result.warning}")
    failed = [r.role for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} roles failed: {', '.join(failed)}")
        return 1
    return 0


def _report(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.report import write_report

    if args.verify is not None:
        return _verify_report(args)
    if args.run is None:
        args.parser.error("name the run file (RUN.h5), or --verify REPORT.html [RUN.h5]")
    damage: list[str] = []
    out = write_report(Path(args.run), Path(args.output) if args.output else None, damage=damage)
    print(out)
    if damage:  # the report is written, under a damage notice: say so, and fail
        print(f"benchtest report: {args.run} is damaged; report written with a damage notice:",
              *(f"  {line}" for line in damage), sep="\n", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _verify_report(args: argparse.Namespace) -> int:
    """Check a report's own SHA-256 and, given the run file, the run file's: 0 when both match."""
    from benchtest.report.digest import verify

    if args.output:
        args.parser.error("-o/--output writes a report; it does not go with --verify")
    checks = verify(Path(args.verify), Path(args.run) if args.run else None)
    for check in checks:
        print(check.line(), file=sys.stdout if check.ok else sys.stderr)
    return 0 if all(check.ok for check in checks) else 1


VISA_LIBRARY_HELP = (
    "the VISA library to talk through, instead of the bench file's visa_library: @py "
    "(pyvisa-py, the default), @ivi (NI-VISA, Keysight IO Libraries), the path of a VISA "
    "shared library, or FILE.yaml@sim (pyvisa-sim)"
)


def _parser(run_options: bool = False) -> argparse.ArgumentParser:
    """The command-line parser; with `run_options`, `run` lists the plugin's bench options."""
    from benchtest.config.assets import DEFAULT_BENCH, DEMO_DUT, asset

    parser = argparse.ArgumentParser(
        prog="benchtest", description="Bench-test automation for low-power chips and sensors."
    )
    parser.add_argument("--version", action="version", version=f"benchtest {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="run the example plan on the simulated bench, write run file and report"
    )
    demo.add_argument(
        "--results-dir", default="results", help="where the run file goes (default: results)"
    )
    demo.set_defaults(handler=_demo)

    sim = sub.add_parser("sim", help="serve the simulated bench until stopped")
    sim.add_argument(
        "--dut", default=str(asset(DEMO_DUT)), help="DUT profile of the simulated part"
    )
    sim.add_argument(
        "--bench", default=str(asset(DEFAULT_BENCH)), help="bench file whose sim:// roles to serve"
    )
    sim.add_argument(
        "--print-bench",
        action="store_true",
        help="print the bench file that points at the simulators",
    )
    sim.add_argument("--write-bench", metavar="FILE", help="write that bench file to FILE")
    sim.set_defaults(handler=_sim)

    run = sub.add_parser(
        "run",
        help="run plans (pytest) against a bench; other options go to pytest",
        description="Run test plans against a bench: a thin wrapper over pytest. Options not "
        "listed here (-k, -x, -n, --junitxml, ...) go to pytest as they are.",
    )
    run.add_argument("plans", nargs="*", help="plan files or folders (required)")
    if run_options:  # the plugin's options: imported only for `run`, which imports them anyway
        from benchtest.cli.run_options import add_plugin_options

        add_plugin_options(run)
    run.set_defaults(handler=_run, parser=run)

    scan = sub.add_parser(
        "scan", help="list reachable VISA instruments and serial ports with their identities"
    )
    scan.add_argument(
        "--no-identify", action="store_true", help="list resources without asking *IDN?"
    )
    scan.add_argument(
        "--timeout",
        type=positive_number("a number of seconds > 0"),
        default=1.0,
        help="seconds to wait for each instrument",
    )
    scan.add_argument(
        "--lan", action="store_true", help="also discover LAN instruments (VXI-11 broadcast, mDNS)"
    )
    scan.add_argument(
        "--socket",
        action="append",
        default=[],
        type=_host_port,
        metavar="HOST:PORT",
        help="also try a raw SCPI socket (repeatable), e.g. 192.168.1.20:5025",
    )
    scan.add_argument(
        "--visa-library",
        metavar="LIBRARY",
        help="the VISA library to search with: @py (pyvisa-py, the default), @ivi (NI-VISA, "
        "Keysight IO Libraries) or the path of a VISA shared library",
    )
    scan.set_defaults(handler=_scan)

    check = sub.add_parser("check", help="validate a bench file and talk to every instrument in it")
    check.add_argument("bench", help="bench file")
    check.add_argument("--dut", help="DUT profile (debug-port settings, ratings)")
    check.add_argument(
        "--sim", action="store_true", help="serve the bench's sim:// roles with the simulated bench"
    )
    check.add_argument("--visa-library", metavar="LIBRARY", help=VISA_LIBRARY_HELP)
    check.set_defaults(handler=_check)

    report = sub.add_parser(
        "report",
        help="write the HTML verification report of a run file, or check one (--verify)",
        description="Write the HTML verification report of RUN.h5, or with --verify check that "
        "REPORT.html is unchanged (its own SHA-256) and, given RUN.h5, that the run file is the "
        "one it reports. Exit 0 when all match, 1 when one does not.",
    )
    report.add_argument("run", nargs="?", help="run file (.h5)")
    report.add_argument("-o", "--output", help="output HTML file (default: next to the run file)")
    report.add_argument(
        "--verify",
        metavar="REPORT.html",
        help="check the report's SHA-256 (and the run file's, when RUN.h5 is given)",
    )
    report.set_defaults(handler=_report, parser=report)

    from benchtest.cli import characterise, compare, export, publish, view

    for module in (compare, characterise, export, view, publish):
        module.register(sub)
    return parser


def _command_of(arguments: Sequence[str]) -> str:
    """The sub-command named on a command line: the first argument that is not an option."""
    return next((argument for argument in arguments if not argument.startswith("-")), "")


def main(argv: Sequence[str] | None = None) -> int:
    """The `benchtest` command; its exit status. Ctrl-C or a stop signal wherever it lands
    (the command line being read included) ends it with 130, without a traceback."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        _close_unfinished_runs()
        return 130


def _close_unfinished_runs() -> None:
    """A bench run that the stop ended before pytest closed it (one landing as pytest ended
    the session): its instruments safe, its run file finished, its simulators stopped."""
    instruments = sys.modules.get("benchtest.plugin.instruments")  # only if a run was started
    if instruments is not None:
        with contextlib.suppress(KeyboardInterrupt):  # one more stop while closing: closed
            instruments.close_unfinished()


def _main(argv: Sequence[str] | None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(run_options=_command_of(given) == "run")
    args, extra = parser.parse_known_args(given)
    if extra and args.command not in ("run", "demo"):
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    if args.command == "run":
        if not any(_names_a_plan(plan) for plan in args.plans):
            args.parser.error("name the plans to run (plan files or folders), e.g. test_plans/ldo")
        args.arguments = given[given.index("run") + 1 :]
    try:
        code: int = args.handler(args, extra)
    except BenchtestError as exc:
        print(f"benchtest {args.command}: {exc}", file=sys.stderr)
        return 2
    return code
