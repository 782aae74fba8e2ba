"""The shared argument checks: TypeError for the wrong kind, ValueError for the wrong value."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from lecture31._runtime.checks import (
    checkCallable,
    checkCount,
    checkExecutor,
    checkProbability,
    checkSeconds,
    checkSeed,
)


@pytest.mark.parametrize("value", [1.0, "3", None, True])
def test_a_count_that_is_not_an_int_is_a_type_error_naming_the_argument(value):
    with pytest.raises(TypeError, match=r"^numSensors must be an int, got "):
        checkCount(value, "numSensors")


def test_a_count_out_of_range_is_a_value_error_with_the_bound():
    with pytest.raises(ValueError, match=r"^tasks must be >= 1, got 0$"):
        checkCount(0, "tasks")
    with pytest.raises(ValueError, match=r"^tasks must be <= 8, got 9$"):
        checkCount(9, "tasks", maximum=8)
    assert checkCount(0, "batches", minimum=0) == 0


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, 1e309])
def test_seconds_must_be_finite_and_not_negative(value):
    with pytest.raises(ValueError, match=r"^timeout must be a finite number of seconds >= 0"):
        checkSeconds(value, "timeout")


def test_positive_seconds_reject_zero_and_numbers_pass_as_floats():
    with pytest.raises(ValueError, match=r"> 0, got 0$"):
        checkSeconds(0, "interval", positive=True)
    assert checkSeconds(2, "interval") == 2.0
    with pytest.raises(TypeError, match=r"^interval must be a number of seconds, got '2'$"):
        checkSeconds("2", "interval")


@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan])
def test_probability_outside_zero_to_one_is_rejected(value):
    with pytest.raises(ValueError, match=r"^p must be a number in \[0, 1\]"):
        checkProbability(value, "p")


@pytest.mark.parametrize("seed", [1.5, "7", True])
def test_a_seed_is_an_int_or_none(seed):
    assert checkSeed(None) is None
    assert checkSeed(7) == 7
    with pytest.raises(TypeError, match=r"^seed must be an int or None, got "):
        checkSeed(seed)


def test_an_executor_argument_rejects_a_number_and_accepts_a_pool():
    with pytest.raises(
        TypeError, match=r"^threadPool must be a concurrent.futures.Executor or None, got 5$"
    ):
        checkExecutor(5, "threadPool")
    with ThreadPoolExecutor(1) as pool:
        assert checkExecutor(pool, "threadPool") is pool
    with pytest.raises(TypeError, match=r"^fn must be callable, got 5$"):
        checkCallable(5, "fn")
