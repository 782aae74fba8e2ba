"""The gate's two stages, its looks and its positive control, on synthetic runs (no bench)."""

import dataclasses
import math
import random

from lecture31.gate.decide import Verdict
from lecture31.gate.groups import CONTROL_FACTOR, groupNamed
from lecture31.gate.stages import StagePlan, runStages


def _bench(nodeid, pair, variant, reference, seconds):
    info = {"pair": pair, "variant": variant, "scale": 1, "reference": reference}
    return {"fullname": nodeid, "extra_info": info, "stats": {"min": seconds}}


class FakeBench:
    """Runs of the pipeline group and the control: seconds with per-trial noise and drift; the
    head's `correct` x ``slowdown``; the head's control slowed unless ``swapped``."""

    def __init__(self, *, slowdown=1.0, noise=0.01, swapped=False, seed=1):
        self.slowdown, self.noise, self.swapped = slowdown, noise, swapped
        self.rng = random.Random(seed)
        self.calls = []

    def __call__(self, trial, label, groups):
        self.calls.append((trial, label, [g.name for g in groups]))
        head = label == "head"
        drift = math.exp(random.Random(trial).gauss(0, 0.03))  # the host, shared by the trial

        def seconds(base):
            return base * drift * math.exp(self.rng.gauss(0, self.noise))

        benchmarks = []
        if "pipeline" in [g.name for g in groups]:
            node = "bench/test_pipeline.py::test_x"
            correct = seconds(0.2) * (self.slowdown if head else 1.0)
            benchmarks += [
                _bench(f"{node}[naive]", "pipeline-48", "naive", "naive", seconds(1.1)),
                _bench(f"{node}[correct]", "pipeline-48", "correct", "naive", correct),
            ]
        if "control" in [g.name for g in groups]:
            node = "bench/test_gate_control.py::test_gate_control"
            slowedSide = "base" if self.swapped else "head"
            factor = CONTROL_FACTOR if label == slowedSide else 1.0
            benchmarks += [
                _bench(f"{node}[plain]", "gate-control", "plain", "plain", seconds(0.03)),
                _bench(
                    f"{node}[slowed]", "gate-control", "slowed", "plain", seconds(0.03) * factor
                ),
            ]
        return {"benchmarks": benchmarks}


PIPELINE = dataclasses.replace(groupNamed("pipeline"), trials=8, moreTrials=4)


def test_unchanged_code_holds_and_the_control_is_caught():
    bench = FakeBench()
    outcome = runStages(StagePlan((PIPELINE,)), bench)
    assert {f.verdict for f in outcome.findings} <= {Verdict.HELD, Verdict.UNRESOLVED}
    assert outcome.control is not None and outcome.control.verdict is Verdict.REGRESSED
    assert outcome.control.change > 0.05
    # every stage-1 trial ran the control beside the group, in ABBA order
    assert bench.calls[:4] == [
        (1, "base", ["pipeline", "control"]),
        (1, "head", ["pipeline", "control"]),
        (2, "head", ["pipeline", "control"]),
        (2, "base", ["pipeline", "control"]),
    ]


def test_a_real_slowdown_regresses_and_swapped_sides_blind_the_control():
    outcome = runStages(StagePlan((PIPELINE,)), FakeBench(slowdown=1.10))
    regressed = {f.measure.name for f in outcome.findings if f.failed}
    assert "pipeline-48 correct seconds" in regressed
    swapped = runStages(StagePlan((PIPELINE,)), FakeBench(swapped=True))
    assert swapped.control.verdict is Verdict.IMPROVED  # the gate would say: blind


def test_the_second_stage_adds_trials_only_to_unresolved_groups_within_the_budget():
    now = [0.0]

    def clock():
        return now[0]

    class Timed(FakeBench):
        def __call__(self, trial, label, groups):
            now[0] += 10.0  # every run costs 10 s
            return super().__call__(trial, label, groups)

    noisy = Timed(noise=0.2, seed=3)  # far too noisy for 8 trials at 1.5%
    outcome = runStages(
        StagePlan((PIPELINE,), budgetSeconds=8 * 20 + 2 * 20 + 5), noisy, clock=clock
    )
    assert outcome.secondStage == ["pipeline"]
    stageTwo = [call for call in noisy.calls if call[0] > PIPELINE.trials]
    assert len(stageTwo) == 2 * 2  # two more trials fit the budget, not the four allowed
    assert all(groups == ["pipeline"] for _, _, groups in stageTwo)  # no control in stage 2
    assert max(f.trials for f in outcome.findings) == PIPELINE.trials + 2


def test_no_second_stage_when_every_measure_is_decided():
    bench = FakeBench(noise=0.001)
    outcome = runStages(StagePlan((PIPELINE,)), bench)
    assert outcome.secondStage == []
    assert max(call[0] for call in bench.calls) == PIPELINE.trials
