"""Exercise 4: naive vs correct sensor pipeline at 12, 24, 48 (and 480) sensors (``pipeline-N``).

    naive:   gather(N x [fetch -> normalize inline -> store inline])   the loop is blocked
    correct: gather(fetch) -> gather(normalize in processes) -> gather(store in threads)

idealSeconds is the library's bound, the one ``compareScales`` reports
(``lecture31.pipeline.bounds.pipelineBoundSeconds``): this seed's slowest fetch, plus the
normalizations scheduled on the processes, plus the store waves on the threads.
"""

from __future__ import annotations

import pytest

from lecture31 import pipeline
from lecture31.pipeline.bounds import pipelineBoundSeconds

SEED = 31
SCALES = (12, 24, 48)
LARGE_SCALE = 480


def _naive(measure, scale, kind):
    result = measure(
        pair=f"pipeline-{scale}",
        variant="naive",
        reference="naive",
        scaleLabel="sensors",
        scale=scale,
        kind=kind,
        target=lambda: pipeline.runNaivePipeline(scale, seed=SEED),
    )
    assert result["count"] == scale


def _correct(measure, pools, scale, kind):
    result = measure(
        pair=f"pipeline-{scale}",
        variant="correct",
        reference="naive",
        scaleLabel="sensors",
        scale=scale,
        kind=kind,
        target=lambda: pipeline.runCorrectPipeline(
            scale, processPool=pools.processPool, threadPool=pools.threadPool, seed=SEED
        ),
        idealSeconds=pipelineBoundSeconds(
            scale, SEED, processes=pools.processes, threads=pools.threads
        ),
        processes=pools.processes,
        threads=pools.threads,
    )
    assert result["count"] == scale


@pytest.mark.parametrize("scale", SCALES)
def test_naive_pipeline(measure, scale):
    _naive(measure, scale, "pipeline")


@pytest.mark.parametrize("scale", SCALES)
def test_correct_pipeline(measure, pipelinePools, scale):
    _correct(measure, pipelinePools, scale, "pipeline")


@pytest.mark.large
@pytest.mark.timeout(900)
def test_naive_pipeline_large(measure):
    _naive(measure, LARGE_SCALE, "large")


@pytest.mark.large
@pytest.mark.timeout(900)
def test_correct_pipeline_large(measure, pipelinePools):
    _correct(measure, pipelinePools, LARGE_SCALE, "large")
