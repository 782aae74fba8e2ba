"""Peak memory of the runners as the number of requests / sensors grows (issue 11, item 5).

``python -m lecture31.demos.footprint [10**3 10**4 10**5]`` runs ``runTiered`` and
``runCorrectPipeline`` once per scale, each in a fresh interpreter, and prints the peak resident
set size (``resource.getrusage``) and its growth over the interpreter's size before the run.

What it measures is the bookkeeping, not the simulated work: sleeps return at once, the CPU tier
is a thread pool and normalization does one round instead of 5000, so 10^5 requests take seconds
rather than the ~12 minutes the real latencies would. Memory is what the runner keeps in flight
and what it returns (``RunResult`` holds every request's result), which is what this is about.
"""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import asyncio, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from lecture31 import pipeline, tiered

kind, count = sys.argv[1], int(sys.argv[2])
time.sleep = lambda seconds: None
realSleep = asyncio.sleep

async def instantSleep(delay, result=None):
    return await realSleep(0, result)

asyncio.sleep = instantSleep
pipeline.stages.NORMALIZE_ITERATIONS = 1

async def run():
    with ThreadPoolExecutor(4) as cpu, ThreadPoolExecutor(10) as io:
        if kind == "tiered":
            done = await tiered.runTiered(count, threadPool=io, processPool=cpu, seed=1)
            assert len(done.results) == count, len(done.results)
        else:
            done = await pipeline.runCorrectPipeline(count, processPool=cpu, threadPool=io, seed=1)
            assert done["count"] == count, done

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
asyncio.run(run())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after, time.perf_counter() - start)
"""


def measure(kind: str, count: int) -> tuple[float, float, float]:
    """(peak MiB, growth MiB over the pre-run size, seconds) of one run in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, kind, str(count)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    before, after, seconds = done.stdout.split()
    return int(after) / 1024, (int(after) - int(before)) / 1024, float(seconds)


def main(counts: list[int]) -> None:
    print("| runner | N | peak RSS | growth during the run | seconds |")
    print("| :--- | ---: | ---: | ---: | ---: |")
    for kind, name in (("tiered", "runTiered"), ("pipeline", "runCorrectPipeline")):
        for count in counts:
            peak, growth, seconds = measure(kind, count)
            print(f"| {name} | {count:,} | {peak:.0f} MiB | {growth:.1f} MiB | {seconds:.1f} |")


def _count(text: str) -> int:
    """``"1000"`` or ``"10**3"``."""
    base, _, power = text.partition("**")
    return int(base) ** int(power) if power else int(base)


if __name__ == "__main__":
    main([_count(arg) for arg in sys.argv[1:]] or [10**3, 10**4, 10**5])
