"""Exercise 4: naive vs correct vs streamed sensor pipeline at 12, 24, 48 (and 480) sensors
(``pipeline-N``), and what the streamed pipeline's batching buys at 480 and 4,800
(``batching-N``, large only).

    naive:     gather(N x [fetch -> normalize inline -> store inline])   the loop is blocked
    correct:   gather(fetch) -> gather(normalize in processes) -> gather(store in threads)
    streamed:  N x [fetch -> normalize in processes -> store in threads], no barrier

Each fast variant carries its own idealSeconds, the library's bound for this seed and these
pools (``lecture31.pipeline.bounds``): for correct the one ``compareScales`` reports (the
slowest fetch, plus the normalizations scheduled on the processes, plus the store waves on the
threads), for streamed each normalization scheduled from its own fetch and each store from its
own normalization. The speedups divide naive's time; streamed over correct is the ratio of the
two (``python -m lecture31.report`` shows all three as a matrix).

batching-N: the streamed pipeline with its normalizations one task each (``one-per-item``, the
reference) against batched where the measured overhead says it pays (``batched``, what
``runStreamedPipeline`` does): ``pytest bench -m large -k batching``. A speedup above 1 is what
batching buys at that scale.
"""

from __future__ import annotations

import pytest

from lecture31 import pipeline
from lecture31._runtime.dispatch import Dispatch
from lecture31.pipeline import streamed
from lecture31.pipeline.bounds import pipelineBoundSeconds, streamedBoundSeconds
from lecture31.pipeline.compare import DEFAULT_SCALES
from lecture31.pipeline.staged import _Pools

SEED = 31
SCALES = DEFAULT_SCALES  # requirement 4's table, as python -m lecture31 pipeline prints it
LARGE_SCALE = 480
BATCHING_SCALES = (480, 4800)


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


def _streamed(measure, pools, scale, kind):
    result = measure(
        pair=f"pipeline-{scale}",
        variant="streamed",
        reference="naive",
        scaleLabel="sensors",
        scale=scale,
        kind=kind,
        target=lambda: pipeline.runStreamedPipeline(
            scale, processPool=pools.processPool, threadPool=pools.threadPool, seed=SEED
        ),
        idealSeconds=streamedBoundSeconds(
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


@pytest.mark.parametrize("scale", SCALES)
def test_streamed_pipeline(measure, pipelinePools, scale):
    _streamed(measure, pipelinePools, scale, "pipeline")


@pytest.mark.large
@pytest.mark.timeout(900)
def test_naive_pipeline_large(measure):
    _naive(measure, LARGE_SCALE, "large")


@pytest.mark.large
@pytest.mark.timeout(900)
def test_correct_pipeline_large(measure, pipelinePools):
    _correct(measure, pipelinePools, LARGE_SCALE, "large")


@pytest.mark.large
@pytest.mark.timeout(900)
def test_streamed_pipeline_large(measure, pipelinePools):
    _streamed(measure, pipelinePools, LARGE_SCALE, "large")


@pytest.mark.large
@pytest.mark.timeout(900)
@pytest.mark.parametrize("scale", BATCHING_SCALES)
@pytest.mark.parametrize("variant", ["one-per-item", "batched"])
def test_streamed_pipeline_batching_large(measure, pipelinePools, scale, variant):
    processes = Dispatch(pipelinePools.processPool)
    processes.streamBatching = variant == "batched"
    threads = Dispatch(pipelinePools.threadPool)
    result = measure(
        pair=f"batching-{scale}",
        variant=variant,
        reference="one-per-item",
        scaleLabel="sensors",
        scale=scale,
        kind="large",
        target=lambda: streamed._runStreamed(scale, _Pools(processes, threads), SEED),
        # No idealSeconds: both variants share one bound, and the report would divide the
        # reference's time by it. Their efficiencies: pipeline-480's streamed row, and
        # streamedBoundSeconds(scale, SEED) against each variant's time.
    )
    assert result["count"] == scale
