"""A user's function that exits or interrupts: reported like any error it raises, on every tier."""

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lecture31._runtime.pools import makeProcessPool, shutDownPools
from lecture31.tiers import WorkloadError, matrix as tierMatrix
from lecture31.tiers.userworkload import userWorkload
from lecture31.tiers.workloads import Escaped, runBatch

TESTS = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("function", "raised"),
    [
        ("exits", "raised SystemExit: 5 (on tier 'inline')"),
        ("interrupts", "raised KeyboardInterrupt (on tier 'inline')"),
        ("asyncExits", "raised SystemExit: bye (on tier 'inline')"),
    ],
)
async def test_an_exit_or_interrupt_from_the_function_is_reported_not_obeyed(function, raised):
    workload = userWorkload(f"userworkload:{function}", None)
    tiers = ["loop"] if workload.isAsync else ["threads"]
    with pytest.raises(WorkloadError) as error:
        await tierMatrix.runMatrix([workload], tiers, tasks=2, workers=2, seed=1, rounds=1)
    assert error.value.reason == "raised"
    assert str(error.value) == f"workload 'userworkload:{function}' {raised}"


@pytest.mark.slow
async def test_every_tier_carries_the_exit_back_as_an_ordinary_error():
    workload = userWorkload("userworkload:exits", None)
    asyncWorkload = userWorkload("userworkload:asyncExits", None)
    threadPool, processPool = ThreadPoolExecutor(2), makeProcessPool(2)
    try:
        for tier, executor, which in [
            ("inline", None, workload),
            ("threads", threadPool, workload),
            ("processes", processPool, workload),
            ("inline", None, asyncWorkload),
            ("loop", None, asyncWorkload),
        ]:
            with pytest.raises(Escaped) as escaped:
                await runBatch(which, tier, [(), ()], executor)
            assert escaped.value.typeName == "SystemExit", tier
    finally:
        await shutDownPools(threadPool, processPool)


@pytest.mark.slow
def test_the_command_line_reports_a_sys_exit_in_one_line_with_exit_2(tmp_path):
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "lecture31", "tiers", "--workload", "userworkload:exits"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "lecture31: workload 'userworkload:exits' raised SystemExit: 5 (on tier 'inline')\n"
    )
    assert re.match(r"Which tier\?", done.stdout)  # the heading, then nothing measured
