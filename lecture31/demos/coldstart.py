"""The cold-start probe behind ``START_METHOD`` (``lecture31._runtime.pools``): each start method.

``python -m lecture31.demos.coldstart`` prints, per method, the median time until a 4-worker
pool has answered once: the first pool in a process, and a later one.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

_COLD_START_PROBE = """
import multiprocessing, sys, time
from concurrent.futures import ProcessPoolExecutor
import lecture31
from lecture31._runtime import pools as _pools
method, preload = sys.argv[1], sys.argv[2] == "1"
context = multiprocessing.get_context(method)
if preload:
    context.set_forkserver_preload(list(_pools.FORKSERVER_PRELOAD))
times = []
for _ in range(2):
    start = time.perf_counter()
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        futures = _pools.startWorkers(pool, 4, settleSeconds=0.05)
        assert len({future.result() for future in futures}) == 4
        times.append(time.perf_counter() - start - 0.05)
print(*times)
"""


def measureColdStart(repeats: int = 7) -> None:
    """Print the table beside START_METHOD: each method in fresh interpreters, medians."""
    cases = [("fork", False), ("forkserver", True), ("forkserver", False), ("spawn", False)]
    for method, preload in cases:
        firsts, laters = [], []
        for _ in range(repeats):
            done = subprocess.run(
                [sys.executable, "-c", _COLD_START_PROBE, method, "1" if preload else "0"],
                capture_output=True,
                text=True,
                check=True,
            )
            first, later = map(float, done.stdout.split())
            firsts.append(first)
            laters.append(later)
        label = f"{method}{' + preload' if preload else ''}"
        print(
            f"{label:<22} first pool {statistics.median(firsts) * 1e3:6.0f} ms"
            f"   later pool {statistics.median(laters) * 1e3:6.0f} ms"
        )


if __name__ == "__main__":
    measureColdStart()
