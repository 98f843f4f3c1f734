"""`make bench`: every benchmark against its baseline, on a scratch database; see harness.py.

    python -m benchmarks.run [NAME-PREFIX ...] [--repeat N] [--json PATH] [--scale]

Prints the database at the top, then one line per benchmark, writes var/bench.json, and exits
1 when a ratio is over its limit (2 when a benchmark failed its own check). --scale runs the
envelope instead (`make bench-scale`: a 1,000,000-item start and panel, a 500,000-denial apply;
each area's scale_benchmarks), once per side unless --repeat says otherwise, into
var/bench-scale.json.
"""

import argparse
import importlib
import os
import sys
from pathlib import Path

# Each area module defines benchmarks(repeat=...) -> list[Benchmark]; later areas add theirs.
AREAS = [
    "benchmarks.notifications",
    "benchmarks.engine",
    "benchmarks.panel",
    "benchmarks.apply",
]

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_JSON = BASE_DIR / "var" / "bench.json"
SCALE_JSON = BASE_DIR / "var" / "bench-scale.json"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("names", nargs="*", help="run only benchmarks whose name starts so")
    parser.add_argument(
        "--repeat", type=int, help="timed calls per side (median; 3, or 1 at scale)"
    )
    parser.add_argument("--json", type=Path, help="where to write results")
    parser.add_argument("--scale", action="store_true", help="the 1,000,000-item envelope")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.scale else 3
    if args.json is None:
        args.json = SCALE_JSON if args.scale else DEFAULT_JSON
    return args


def describe_database(connection) -> dict:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0].split()[0]
    else:
        import sqlite3

        version = sqlite3.sqlite_version
    return {
        "vendor": connection.vendor,
        "version": version,
        "scratch_database": str(connection.settings_dict["NAME"]),
    }


def collect(names: list[str], repeat: int, *, scale: bool = False) -> list:
    selected = []
    for area in AREAS:
        module = importlib.import_module(area)
        if scale and not hasattr(module, "scale_benchmarks"):
            continue
        found = module.scale_benchmarks if scale else module.benchmarks
        for bench in found(repeat=repeat):
            if not names or any(bench.name.startswith(name) for name in names):
                selected.append(bench)
    return selected


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Always the benchmark settings: their scratch database is the only one written to.
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    from benchmarks.harness import exit_code, run_benchmarks, write_json

    real_name = str(connection.settings_dict["NAME"])
    if "bench" not in str(connection.settings_dict["TEST"].get("NAME") or ""):
        raise SystemExit("benchmarks.settings must name a scratch database (TEST NAME)")
    print("creating a scratch database ...", file=sys.stderr, flush=True)
    old_config = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
    try:
        scratch = str(connection.settings_dict["NAME"])
        if scratch == real_name or "bench" not in scratch:
            raise SystemExit(f"refusing to benchmark on {scratch!r}: not a scratch database")
        header = describe_database(connection)
        print(f"database: {header['vendor']} {header['version']} (scratch {scratch})", flush=True)
        results = run_benchmarks(collect(args.names, args.repeat, scale=args.scale))
        write_json(
            args.json,
            results,
            {
                "database": header,
                "django": django.get_version(),
                "cpus": os.cpu_count(),
                "repeat": args.repeat,
                "scale": args.scale,
            },
        )
    finally:
        connection.close()
        teardown_databases(old_config, verbosity=0)
    print(f"wrote {args.json}", file=sys.stderr)
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
