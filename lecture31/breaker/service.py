"""Exercise 3, requirement 3: the flaky async service the breaker is tested against."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from .._runtime.seeding import derivedRng

__all__ = ("ERROR_PROBABILITY", "SUCCESS_PROBABILITY", "FlakyAsyncService")

# The homework's mix: 60% works, 30% fails fast, 10% hangs then times out.
SUCCESS_PROBABILITY = 0.6
ERROR_PROBABILITY = 0.3


class FlakyAsyncService:
    """A degraded dependency: ``fetch`` works 60%, raises ``RuntimeError("service degraded")``
    30%, and 10% hangs ``hangSeconds`` then raises ``asyncio.TimeoutError``."""

    def __init__(self, *, rng: random.Random | None = None, hangSeconds: float = 3.0) -> None:
        if isinstance(hangSeconds, bool) or not isinstance(hangSeconds, int | float):
            raise TypeError(f"hangSeconds must be a number of seconds, got {hangSeconds!r}")
        if not hangSeconds >= 0:
            raise ValueError(f"hangSeconds must be >= 0, got {hangSeconds!r}")
        self._rng = rng
        self._seed: int | None = None
        self.hangSeconds = float(hangSeconds)
        self.calls = 0  # how many fetches reached the service

    @classmethod
    def _seededPerRequest(cls, seed: int, *, hangSeconds: float = 3.0) -> FlakyAsyncService:
        """A service whose fate for each ``requestId`` is drawn from its own generator derived
        from ``seed``: request 7 hangs in every run with that seed, however many calls before it
        the breaker turned away (one shared stream would shift every later fate instead)."""
        service = cls(hangSeconds=hangSeconds)
        service._seed = seed
        return service

    def _draw(self, requestId: Any) -> str:
        if self._seed is not None:
            draw = derivedRng(self._seed, "breaker", "fetch", requestId).random()
        elif self._rng is None:
            draw = random.random()
        else:
            draw = self._rng.random()
        if draw < SUCCESS_PROBABILITY:
            return "success"
        if draw < SUCCESS_PROBABILITY + ERROR_PROBABILITY:
            return "service_error"
        return "hang"

    async def fetch(self, requestId: Any) -> dict:
        self.calls += 1
        fate = self._draw(requestId)
        if fate == "success":
            return {"requestId": requestId, "status": "ok"}
        if fate == "service_error":
            raise RuntimeError("service degraded")
        await asyncio.sleep(self.hangSeconds)
        # asyncio.TimeoutError is the builtin TimeoutError since Python 3.11.
        raise TimeoutError(f"fetch({requestId!r}) hung for {self.hangSeconds} s")
