"""Counter-based random streams: the same draws in the reference engine and the compiled one.

Draw ``n`` of a stream is ``splitmix64(key + (n + 1) x golden)``: a pure function of the
stream's key and its counter, so the Python reference engine (``simulate.py``) and the numba
kernel (``kernel.py``) draw bit-identical numbers, and a test can ask both engines for the very
same trace. ``random.Random`` cannot be stepped from compiled code; a splitmix64 stream is
three multiplies and shifts in either language (Steele, Lea and Flood, "Fast splittable
pseudorandom number generators", OOPSLA 2014; it passes BigCrush).

The float formulas are ``random.Random``'s: ``uniform``, ``expovariate``, ``paretovariate``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Protocol

__all__ = ("GOLDEN", "CounterStream", "Draws", "streamKey", "toUnit")

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
UNIT = 2.0**-53


def streamKey(seed: int, *labels: object) -> int:
    """A 64-bit key for the stream named ``labels`` under ``seed`` (same in every process)."""
    text = ":".join(map(str, (seed, *labels))).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def toUnit(key: int, counter: int) -> float:
    """Draw ``counter`` (0-based) of stream ``key``, in [0, 1) with 53 bits."""
    z = (key + (counter + 1) * GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * MIX1) & MASK
    z = ((z ^ (z >> 27)) * MIX2) & MASK
    z ^= z >> 31
    return (z >> 11) * UNIT


class Draws(Protocol):
    """What the latency models draw from: ``random.Random`` or a ``CounterStream``."""

    def random(self) -> float: ...
    def uniform(self, a: float, b: float) -> float: ...
    def expovariate(self, lambd: float) -> float: ...
    def paretovariate(self, alpha: float) -> float: ...


class CounterStream:
    """The subset of ``random.Random`` the latency models and the engine use."""

    __slots__ = ("count", "key")

    def __init__(self, key: int) -> None:
        self.key = key
        self.count = 0

    def random(self) -> float:
        value = toUnit(self.key, self.count)
        self.count += 1
        return value

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def expovariate(self, lambd: float) -> float:
        return -math.log(1.0 - self.random()) / lambd

    def paretovariate(self, alpha: float) -> float:
        return float(1.0 / (1.0 - self.random()) ** (1.0 / alpha))

    def randrange(self, n: int) -> int:
        """0 <= value < n (a multiply, not rejection sampling: a bias below 2^-53 x n)."""
        return int(self.random() * n)
