"""The command line: ``python -m lecture31 [tiered|fanout|breaker|pipeline|all] [--seed N]``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

EXERCISES = {
    "tiered": "Exercise 1: three-tier request handler (asyncio + threads + processes)",
    "fanout": "Exercise 2: fan-out query with adaptive timeout",
    "breaker": "Exercise 3: circuit breaker against a flaky async service",
    "pipeline": "Exercise 4: mixed-architecture sensor pipeline benchmark",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lecture31",
        description="Run Lecture 31's exercises and print what they measure.",
        epilog="\n".join(f"  {name:<9} {text}" for name, text in EXERCISES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "exercise",
        nargs="?",
        default="all",
        choices=[*EXERCISES, "all"],
        help="which exercise to run (default: all, in order)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed every random draw, so a run can be repeated exactly",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = list(EXERCISES) if args.exercise == "all" else [args.exercise]
    for name in names:
        module = importlib.import_module(f"lecture31.{name}")
        run = getattr(module, "main", None)
        if run is None:
            print(f"lecture31: exercise {name!r} is not built yet", file=sys.stderr)
            return 1
        if len(names) > 1:
            print(f"\n=== {EXERCISES[name]} ===")
        asyncio.run(run(seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
