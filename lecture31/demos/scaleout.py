"""A MODEL, not a measurement: the sensor pipeline on 1-16 machines, from two measured numbers.

Inputs, both measured on this machine (``python -m lecture31.cluster --model`` measures them):
``c``, one ``normalizeReading`` where it runs, and ``o``, dask's per-task overhead (a no-op in a
burst: client, scheduler and worker bookkeeping, one task at a time through one scheduler).

For ``N`` sensors on ``M`` machines of ``C`` cores (``W = M C`` single-threaded dask workers,
client and scheduler on a host of their own), tasks of ``b`` readings each (``b = 1``: one task
per reading; batched: ``b = batchSizeFor(N, W, o, c)``)::

    tasks     = ceil(N / b)
    compute   = ceil(tasks / W) * b * c          the workers, in rounds of W tasks
    dispatch  = tasks * o                        the scheduler, one task after another
    cpu       = max(compute, dispatch) + o       the two overlap; the first task still pays o
    pipeline  = FETCH + cpu + ceil(N / STORE_THREADS) * STORE

``FETCH`` (0.12 s, the slowest fetch) and the store stage (20 ms waves over the client's
STORE_THREADS threads) stay on the client host: the cluster scales only the CPU stage. Not
modelled: the network (a reading is ~100 bytes), the client's own per-sensor cost on its event
loop, and, on one machine, the scheduler and client competing with the workers for its cores
(which is why the measured one-machine dask run is slower than this model says).
"""

from __future__ import annotations

import math

from .._runtime.batching import batchSizeFor
from ..pipeline import FETCH_SECONDS, STORE_SECONDS, STORE_THREADS

__all__ = (
    "MACHINES",
    "MACHINE_CORES",
    "SENSORS",
    "cpuStageSeconds",
    "modelRows",
    "plotModel",
    "renderModel",
)

SENSORS = (4_800, 48_000, 480_000)
MACHINES = (1, 4, 16)
MACHINE_CORES = (2, 16)


def cpuStageSeconds(numSensors: int, workers: int, batch: int, *, overhead: float, cost: float):
    """The CPU stage's modelled seconds: compute and dispatch overlap, the first task pays o."""
    tasks = math.ceil(numSensors / batch)
    compute = math.ceil(tasks / workers) * batch * cost
    dispatch = tasks * overhead
    return max(compute, dispatch) + overhead


def modelRows(*, overheadSeconds: float, taskSeconds: float) -> list[dict]:
    """One row per (sensors, machines, cores): batch size, CPU stage per reading and batched,
    the whole pipeline batched, and the CPU stage's speedup from batching."""
    rows = []
    for sensors in SENSORS:
        for cores in MACHINE_CORES:
            for machines in MACHINES:
                workers = machines * cores
                batch = batchSizeFor(
                    sensors, workers, overheadSeconds=overheadSeconds, taskSeconds=taskSeconds
                )
                perReading, batched = (
                    cpuStageSeconds(
                        sensors, workers, size, overhead=overheadSeconds, cost=taskSeconds
                    )
                    for size in (1, batch)
                )
                fixed = FETCH_SECONDS[1] + math.ceil(sensors / STORE_THREADS) * STORE_SECONDS
                rows.append(
                    {
                        "sensors": sensors,
                        "machines": machines,
                        "cores": cores,
                        "workers": workers,
                        "batch": batch,
                        "cpuPerReadingSeconds": perReading,
                        "cpuBatchedSeconds": batched,
                        "pipelineBatchedSeconds": fixed + batched,
                    }
                )
    return rows


def renderModel(rows: list[dict], *, overheadSeconds: float, taskSeconds: float) -> str:
    """A markdown table, headed as a model with its two inputs."""
    lines = [
        f"MODEL, not a measurement: o = {overheadSeconds * 1e3:.2f} ms per dask task,"
        f" c = {taskSeconds * 1e3:.2f} ms per normalizeReading (both measured here).",
        "",
        "| sensors | machines x cores | workers | batch | CPU stage, 1 task/reading |"
        " CPU stage, batched | whole pipeline, batched |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['sensors']:,} | {row['machines']} x {row['cores']} | {row['workers']}"
            f" | {row['batch']} | {_seconds(row['cpuPerReadingSeconds'])}"
            f" | {_seconds(row['cpuBatchedSeconds'])}"
            f" | {_seconds(row['pipelineBatchedSeconds'])} |"
        )
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{value:.3g} s" if value < 100 else f"{value:,.0f} s"


def plotModel(rows: list[dict], path, *, overheadSeconds: float, taskSeconds: float) -> None:
    """CPU-stage seconds against workers, one line per scale, per reading vs batched."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7.5, 4.8))
    for index, sensors in enumerate(SENSORS):
        mine = sorted((r for r in rows if r["sensors"] == sensors), key=lambda r: r["workers"])
        workers = [r["workers"] for r in mine]
        colour = f"C{index}"
        axes.plot(
            workers,
            [r["cpuBatchedSeconds"] for r in mine],
            "o-",
            color=colour,
            label=f"{sensors:,} sensors, batched",
        )
        axes.plot(
            workers,
            [r["cpuPerReadingSeconds"] for r in mine],
            "x--",
            color=colour,
            label=f"{sensors:,} sensors, 1 task per reading",
        )
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("dask workers = machines x cores (2, 8, 32 on 2-core; 16, 64, 256 on 16-core)")
    axes.set_ylabel("CPU stage, seconds (model)")
    axes.set_title(
        "MODEL, not a measurement: normalize stage on a dask cluster\n"
        f"o = {overheadSeconds * 1e3:.2f} ms/task, c = {taskSeconds * 1e3:.2f} ms/reading",
        fontsize=10,
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
