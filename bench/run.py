"""Every benchmark of Migrateway in one command: `.venv/bin/python -m bench [--quick]`."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import cases, databases, graph_case, plan_case, targets_case, wrk
from bench.processes import install_cleanup, stop_all
from bench.report import markdown

CASES = {
    "1": cases.history,
    "2": cases.current,
    "3": cases.upgrade,
    "4": cases.cold_start,
    "6": plan_case.plan,
    "7": graph_case.graph,
    "8": targets_case.targets,
}


def settings(args, scratch: Path) -> cases.Settings:
    kinds = ["sqlite"] + (["postgresql"] if databases.postgres_reachable() else [])
    if args.quick:  # a smoke run: every path exercised, small N, one run each
        return cases.Settings(
            scratch,
            history_sizes=[(100, "linear"), (100, "branched"), (1000, "linear")],
            current_n=100,
            upgrade_n=100,
            cold_n=1000,
            runs=1,
            requests=5,
            wrk_seconds=3,
            rounds=1,
            databases=kinds,
            bytecode=args.bytecode,
            fleet_n=500,
        )
    return cases.Settings(
        scratch,
        history_sizes=[(100, "linear"), (1000, "linear"), (1000, "branched"), (10000, "linear")],
        current_n=1000,
        upgrade_n=1000,
        cold_n=10000,
        runs=5,
        requests=20,
        wrk_seconds=5,
        rounds=5,
        databases=kinds,
        bytecode=args.bytecode,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small N and one run each: a smoke run"
    )
    parser.add_argument("--only", default="12346", help="which comparisons, e.g. 13 (4 includes 5)")
    parser.add_argument(
        "--bytecode",
        action="store_true",
        help="let Python cache compiled revision files (default: compile on every load)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    install_cleanup()
    scratch = Path(tempfile.mkdtemp(prefix="migrateway-bench-"))
    s = settings(args, scratch)
    load_before = os.getloadavg()[0]
    started, rows, failed = time.monotonic(), [], False
    try:
        for key in args.only:
            rows += CASES[key](s)
    except BaseException:
        failed = True
        print(f"benchmark failed; logs kept in {scratch}", file=sys.stderr)
        raise
    finally:
        stop_all()
        if not (failed or args.keep):
            shutil.rmtree(scratch, ignore_errors=True)

    print(
        f"Migrateway benchmarks ({'quick' if args.quick else 'full'} run, "
        f"{time.monotonic() - started:.0f} s): Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, databases: {', '.join(s.databases)}, "
        f"bytecode cache: {'on' if s.bytecode else 'off'}, "
        f"wrk: {'yes' if wrk.available() else 'no'}"
    )
    print(
        f"Load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end:"
        " anything else running on the machine shows in these figures."
    )
    print(
        "Times are medians (range over runs in brackets); `flask db` figures are whole processes.\n"
    )
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
