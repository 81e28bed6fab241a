"""`make bench`: run every benchmark, write bench/results/<name>.json, print a table."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys

from bench.common import Result

BENCHMARKS = (
    "event_lag",
    "outbox_throughput",
    "instant_approval",
    "plan_year",
    "gateway_overhead",
    "faults",
    "soak",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help="benchmarks to run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results: list[Result] = []
    for name in args.names:
        module = importlib.import_module(f"bench.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        # A module reports one Result, or several (one per fault injected, for instance).
        outcome: Result | list[Result] = asyncio.run(module.run())
        for result in outcome if isinstance(outcome, list) else [outcome]:
            path = result.write()
            print(f"  wrote {path}", file=sys.stderr)
            results.append(result)
    header = (
        f"{'benchmark':<22} {'metric':<34} {'value':>12} {'unit':<8} {'baseline':>10} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        baseline = f"{r.baseline:.2f}" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        print(f"{r.name:<22} {r.metric:<34} {r.value:>12.2f} {r.unit:<8} {baseline:>10} {ratio:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
