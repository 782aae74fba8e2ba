"""Test doubles shared by the breaker tests: a clock that moves only when told, a service error."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that moves only when told to; times are exact binary fractions."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Boom(Exception):
    """The service's own failure in these tests."""
