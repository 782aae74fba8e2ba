"""The correct pipeline's CPU tier on the process pool vs a local dask cluster (``cluster-N``).

    process: runCorrectPipeline(N, processPool=<lecture31 process pool>)     the reference
    dask:    runCorrectPipeline(N, processPool=<dask executor, LocalCluster>)

Both with the same number of single-threaded workers (``NORMALIZE_PROCESSES``) and the same warm
store threads. Marked ``large`` (``pytest bench -m large``): a dask round at 4,800 sensors takes
tens of seconds on a loaded 2-core machine. Expect dask below 1x on one machine: every task
pays dask's per-task overhead (``extra_info['perTaskSeconds']``, measured here on the warm
executor) and the scheduler shares the same two cores as the workers. Needs the
``distributed`` extra.
"""

from __future__ import annotations

import asyncio

import pytest

from lecture31 import pipeline
from lecture31._runtime.batching import executorWorkers, measureOverhead
from lecture31.cluster import EXTRA_HINT, cpuExecutor

SEED = 31
SCALES = (480, 4_800)


@pytest.fixture(scope="session")
def cpuTiers():
    """Both CPU tiers, warm, with their measured per-task overhead; closed at session end."""
    pytest.importorskip("distributed", reason=f"the cluster benchmarks need {EXTRA_HINT}")
    workers = pipeline.NORMALIZE_PROCESSES
    with (
        cpuExecutor("process", workers=workers) as processPool,
        cpuExecutor("dask", workers=workers) as daskExecutor,
    ):
        tiers = {"process": processPool, "dask": daskExecutor}
        overheads = {
            name: asyncio.run(measureOverhead(executor)) for name, executor in tiers.items()
        }
        yield {name: (tiers[name], overheads[name]) for name in tiers}


@pytest.mark.large
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("variant", ["process", "dask"])
@pytest.mark.parametrize("scale", SCALES)
def test_correct_pipeline_large_on_each_cpu_tier(measure, pipelinePools, cpuTiers, scale, variant):
    executor, overhead = cpuTiers[variant]
    result = measure(
        pair=f"cluster-{scale}",
        variant=variant,
        reference="process",
        scale=scale,
        kind="cluster",
        target=lambda: pipeline.runCorrectPipeline(
            scale, processPool=executor, threadPool=pipelinePools.threadPool, seed=SEED
        ),
        workers=executorWorkers(executor),
        roundTripSeconds=overhead["roundTripSeconds"],
        perTaskSeconds=overhead["perTaskSeconds"],
    )
    assert result["count"] == scale
