"""Argument checks with one wording: the culprit's name, the rule, and what was given.

Wrong *type* raises ``TypeError``; right type, wrong *value* raises ``ValueError``. ``bool`` is
never an int or a number here (``True`` as a count is a bug, not a 1). Messages read
``"<name> must be <rule>, got <repr>"`` everywhere, so a user sees one voice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from numbers import Real

__all__ = (
    "MAX_NESTING",
    "UserInputError",
    "checkCallable",
    "checkCount",
    "checkExecutor",
    "checkNesting",
    "checkProbability",
    "checkSeconds",
    "checkSeed",
)


# Lists and objects in a user's JSON (--args): deeper than any real arguments, shallow enough
# that nothing walking them (pickle, repr, a recursive function) meets the recursion limit.
MAX_NESTING = 100


class UserInputError(ValueError):
    """A value the user gave (an option, an environment variable) that cannot be used: raised
    deep in the library, said by a command line as one line naming it, exit status 2."""


def checkCount(value: object, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An int in ``[minimum, maximum]``: counts of requests, sensors, shards, workers..."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return value


def checkSeconds(
    value: object, name: str, *, positive: bool = False, maximum: float | None = None
) -> float:
    """A finite real number of seconds, >= 0 (or > 0 with ``positive``), at most ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        rule = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number of seconds {rule}, got {value!r}")
    if maximum is not None and seconds > maximum:
        raise ValueError(f"{name} must be <= {maximum} seconds, got {value!r}")
    return seconds


def checkProbability(value: object, name: str) -> float:
    """A real number in ``[0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    probability = float(value)
    if not 0.0 <= probability <= 1.0:  # also rejects nan
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return probability


def checkSeed(seed: object, name: str = "seed") -> int | None:
    """``None`` (unseeded) or an int; a float or str seed is a mistake, not a different stream."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{name} must be an int or None, got {seed!r}")
    return seed


def checkExecutor(value: object, name: str, *, optional: bool = True) -> Executor | None:
    """A ``concurrent.futures.Executor`` (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, Executor):
        allowed = "a concurrent.futures.Executor or None" if optional else "an Executor"
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    return value


def checkCallable(value: object, name: str) -> Callable[..., object]:
    """Anything callable."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")
    return value


def checkNesting(value: object, name: str, *, maximum: int = MAX_NESTING) -> object:
    """``value`` (lists, tuples and dicts within each other) at most ``maximum`` deep; walked
    without recursion, so any depth is measured safely."""
    level, depth = [value], 0
    while containers := [inside for inside in level if isinstance(inside, (list, tuple, dict))]:
        depth += 1
        if depth > maximum:
            raise UserInputError(f"{name} must be nested at most {maximum} levels deep, got deeper")
        level = [
            item
            for inside in containers
            for item in (inside.values() if isinstance(inside, dict) else inside)
        ]
    return value
