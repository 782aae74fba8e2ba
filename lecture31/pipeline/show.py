"""Exercise 4's ``main``: requirement 4's table, then (beyond the homework) the streamed design
against it, then requirement 5's breaker batches, explained."""

from __future__ import annotations

from concurrent.futures import Executor

from .._runtime.checks import checkExecutor, checkSeed
from .._runtime.pools import ownedPools
from .compare import compareScales, compareStreamed
from .staged import NORMALIZE_PROCESSES, STORE_THREAD_NAME, STORE_THREADS
from .stages import STORE_SECONDS
from .storebreaker import (
    BATCHES,
    BREAKER_FAILURE_THRESHOLD,
    BREAKER_RESET_SECONDS,
    DEMO_FAILURE_PROBABILITY,
    SENSORS_PER_BATCH,
    STORE_FAILURE_PROBABILITY,
    runStorageBreakerBatches,
)

__all__ = (
    "breakerVerdict",
    "chanceOfRun",
    "main",
    "renderBatches",
    "renderScales",
    "renderStreamed",
)


def renderScales(rows: list[dict]) -> str:
    """The comparison table; ``limit`` is the speedup the ideal time would give."""
    lines = [
        "sensors   naive s  correct s  speedup   ideal s  efficiency  limit",
    ]
    for row in rows:
        lines.append(
            f"{row['sensors']:>7}  {row['naiveSeconds']:>8.3f}  {row['correctSeconds']:>9.3f}"
            f"  {row['speedup']:>6.2f}x  {row['idealSeconds']:>8.3f}"
            f"  {row['efficiency']:>10.0%}  {row['naiveSeconds'] / row['idealSeconds']:>4.1f}x"
        )
    return "\n".join(lines)


def renderStreamed(rows: list[dict]) -> str:
    """Correct against streamed; ``ideal`` and ``efficiency`` are the streamed design's."""
    lines = ["sensors  correct s  streamed s  over correct   ideal s  efficiency"]
    for row in rows:
        lines.append(
            f"{row['sensors']:>7}  {row['correctSeconds']:>9.3f}  {row['streamedSeconds']:>10.3f}"
            f"  {row['speedup']:>11.2f}x  {row['idealSeconds']:>8.3f}  {row['efficiency']:>10.0%}"
        )
    return "\n".join(lines)


def chanceOfRun(trials: int, probability: float, runLength: int) -> float:
    """Chance that ``trials`` independent events, each failing with ``probability``, contain
    ``runLength`` failures in a row somewhere (what it takes to open the breaker)."""
    # noRun[k]: chance of no full run so far with the current streak of failures at length k.
    noRun = [1.0] + [0.0] * (runLength - 1)
    for _ in range(trials):
        noRun = [(1 - probability) * sum(noRun)] + [
            probability * noRun[k - 1] for k in range(1, runLength)
        ]
    return 1.0 - sum(noRun)


def renderBatches(rows: list[dict]) -> str:
    lines = ["batch  successes  failures  fastFails  state after"]
    for row in rows:
        lines.append(
            f"{row['batch']:>5}  {row['successes']:>9}  {row['failures']:>8}"
            f"  {row['fastFails']:>9}  {row['state']}"
        )
    totals = {key: sum(row[key] for row in rows) for key in ("successes", "failures", "fastFails")}
    lines.append(
        f"total  {totals['successes']:>9}  {totals['failures']:>8}  {totals['fastFails']:>9}"
    )
    return "\n".join(lines)


def breakerVerdict(rows: list[dict], failureProbability: float) -> str:
    """What the batches show, said plainly, with the odds that make it unsurprising."""
    stores = sum(row["successes"] + row["failures"] + row["fastFails"] for row in rows)
    threshold = BREAKER_FAILURE_THRESHOLD
    anyThree = failureProbability**threshold
    anywhere = chanceOfRun(stores, failureProbability, threshold)
    how = "rare" if anywhere < 0.5 else "to be expected"
    odds = (
        f"At p = {failureProbability:g}, {threshold} store failures in a row are {how}:"
        f" {anyThree:.1%} for any {threshold} consecutive stores,\n{anywhere:.0%} for a run"
        f" anywhere in these {stores}."
    )
    fastFails = sum(row["fastFails"] for row in rows)
    if fastFails:
        return (
            f"{odds}\nThis run opened the breaker: {fastFails} stores failed fast, each"
            f" without calling storeReading or blocking a thread for {STORE_SECONDS * 1000:.0f}"
            " ms."
        )
    return f"{odds}\nThis run never opened the breaker, so no store failed fast."


async def main(seed: int | None = None, *, processPool: Executor | None = None) -> None:
    """Requirement 4's table, then requirement 5's breaker batches at p = 0.15 and p = 0.5.

    ``processPool``: an executor for the CPU stage (the command line may pass one), used as is.
    """
    checkSeed(seed)
    checkExecutor(processPool, "processPool")
    print("Naive (all stages inline on the event loop) vs correct (each stage on its tier):")
    print(renderScales(await compareScales(seed=seed, processPool=processPool)))
    print(
        "ideal = slowest fetch + normalizations over the processes + store waves over the"
        " threads;\nefficiency = ideal / correct; limit = naive / ideal. Naive grows ~21 ms per"
        " sensor while\nthe staged time stays near 0.15 s, so the speedup grows with the scale."
    )
    print(
        "\nBeyond the homework: streamed (one chain per sensor: each reading is normalized as"
        " soon as\nits own fetch lands and stored as soon as it is normalized; no barrier"
        " between stages):"
    )
    print(renderStreamed(await compareStreamed(seed=seed, processPool=processPool)))
    print(
        "ideal = each normalization scheduled from its own fetch, each store from its own"
        " normalization.\nThe staged bound adds two barriers: the CPU waits for the slowest"
        " fetch, the stores for the\nlast normalization. Streamed, the CPU works while fetches"
        " are still landing."
    )
    intros = {
        STORE_FAILURE_PROBABILITY: "Stores through one shared CircuitBreaker",
        DEMO_FAILURE_PROBABILITY: "Since that is rare at p = 0.15, the same again at p = 0.5,"
        " where the breaker\nshould open and fail fast",
    }
    async with ownedPools() as pools:
        processes = pools.processes(NORMALIZE_PROCESSES, given=processPool)
        threads = pools.threads(STORE_THREADS, STORE_THREAD_NAME)
        for probability, intro in intros.items():
            print(
                f"\n{intro} (threshold {BREAKER_FAILURE_THRESHOLD}, reset"
                f" {BREAKER_RESET_SECONDS} s),\n{BATCHES} batches of {SENSORS_PER_BATCH}"
                f" sensors, each store failing with p = {probability:g}:"
            )
            rows = await runStorageBreakerBatches(
                failureProbability=probability,
                seed=seed,
                processPool=processes,
                threadPool=threads,
            )
            print(renderBatches(rows))
            print(breakerVerdict(rows, probability))
