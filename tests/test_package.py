"""The package's public surface changes only on purpose."""

import inspect

import lecture31
from lecture31 import breaker, cluster, fanout, pipeline, tiered, tiers

PUBLIC_API = {
    tiered: {
        "RequestFailedError",
        "RunResult",
        "fetchMetadataBlocking",
        "handleRequest",
        "parseCsvChunk",
        "runSequential",
        "runTiered",
    },
    fanout: {
        "LatencyTracker",
        "fanOutWithAdaptiveTimeout",
        "hedgedFanOut",
        "queryShard",
        "runQueries",
    },
    breaker: {
        "AsyncCircuitBreaker",
        "BreakerState",
        "CircuitBreaker",
        "CircuitOpenError",
        "FlakyAsyncService",
        "runHarness",
    },
    pipeline: {
        "aggregateResults",
        "compareScales",
        "fetchSensorReading",
        "normalizeReading",
        "runCorrectPipeline",
        "runNaivePipeline",
        "runStorageBreakerBatches",
        "runStreamedPipeline",
        "storeReading",
    },
    tiers: {"TIERS", "WORKLOADS", "TierRow", "WorkloadError", "runTierMatrix", "verdicts"},
}


def test_each_exercise_module_exports_exactly_its_pinned_names():
    for module, names in PUBLIC_API.items():
        assert set(module.__all__) == names, module.__name__


def test_package_reexports_every_public_name_once_and_as_the_same_object():
    expected = set().union(*PUBLIC_API.values(), {"cpuExecutor"})
    assert sorted(lecture31.__all__) == sorted(expected)
    assert len(lecture31.__all__) == len(expected)
    for module, names in PUBLIC_API.items():
        for name in names:
            assert getattr(lecture31, name) is getattr(module, name)


def test_every_exercise_has_an_async_main_for_the_command_line():
    for module in PUBLIC_API:
        assert inspect.iscoroutinefunction(module.main), module.__name__
        assert "main" not in module.__all__


def test_the_cpu_executor_is_reexported_without_importing_dask():
    assert lecture31.cpuExecutor is cluster.cpuExecutor
    assert "cpuExecutor" in cluster.__all__
