"""The circuit breaker's state machine: one pure core that decides, two shells that call.

The core never awaits, never does I/O and never runs user code. A shell asks it "may I call?"
(``admit``), runs the call itself, then tells it what happened (``recordSuccess`` /
``recordFailure`` / ``release``). Time comes from an injected ``clock``; the core stores the
absolute deadline at which an open circuit may probe again, not a timestamp to recompute.

       failureCount reaches failureThreshold         first admit() at or after reopenAt:
    +--------+ -------------------------> +------+ ---------------------> +-----------+
    | CLOSED |                            | OPEN |   that caller probes   | HALF_OPEN |
    +--------+                            +------+ <--------------------- +-----------+
        ^       admit() before reopenAt:     probe fails, is cancelled,    |  any other
        |       CircuitOpenError             or overruns (async)           |  admit():
        |                                                                  |  CircuitOpenError
        +------------------------------------------------------------------+
                                   probe succeeds

Tickets: every admission returns the breaker's current *epoch* (a counter bumped on every state
change). A result reported with an older epoch belongs to a call admitted before the state moved
on, and is ignored: a slow closed-state call that succeeds after the circuit opened must not close
it, and only the one probe admitted in a half-open epoch may decide that epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum

__all__ = ("BreakerState", "CircuitOpenError")


class BreakerState(StrEnum):
    """Where a breaker is; each value is the word the homework uses, so it equals that string."""

    CLOSED = "closed"
    """Calls go through; consecutive failures are counted."""
    OPEN = "open"
    """Calls fail fast with CircuitOpenError until the reset timeout has passed."""
    HALF_OPEN = "half_open"
    """One probe call goes through; its result closes or re-opens the circuit."""


_CLOSED = BreakerState.CLOSED
_OPEN = BreakerState.OPEN
_HALF_OPEN = BreakerState.HALF_OPEN

# The legal moves, as data: every change of state goes through _BreakerCore._moveTo, which checks
# against this set, so a bug in a shell shows up as a loud RuntimeError, not a silent odd state.
_TRANSITIONS = frozenset(
    {(_CLOSED, _OPEN), (_OPEN, _HALF_OPEN), (_HALF_OPEN, _CLOSED), (_HALF_OPEN, _OPEN)}
)


class CircuitOpenError(Exception):
    """Raised by a breaker's ``call`` instead of calling: the circuit is open, or half-open with
    its one probe already in flight. ``retryAfterSeconds`` is when asking again can help (None:
    unknown, a sync probe has no time bound)."""

    def __init__(
        self, message: str = "circuit open", *, retryAfterSeconds: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryAfterSeconds = retryAfterSeconds


def _checkParameters(
    failureThreshold: object, resetTimeoutSeconds: object, probeTimeoutSeconds: object
) -> None:
    # bool is an int subclass; True as a threshold is surely a mistake.
    if isinstance(failureThreshold, bool) or not isinstance(failureThreshold, int):
        raise TypeError(f"failureThreshold must be an int, got {failureThreshold!r}")
    if failureThreshold < 1:
        raise ValueError(f"failureThreshold must be >= 1, got {failureThreshold!r}")
    timeouts = {"resetTimeoutSeconds": resetTimeoutSeconds}
    if probeTimeoutSeconds is not None:
        timeouts["probeTimeoutSeconds"] = probeTimeoutSeconds
    for name, value in timeouts.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name} must be a number of seconds, got {value!r}")
        if math.isnan(value) or value < 0:
            raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")


class _BreakerCore:
    """The homework's three-state rules plus one-probe-at-a-time; not thread-safe by itself."""

    # The two *Ticket slots are what the shells read lock-free on their fast path: one attribute
    # read answers "closed, and in which epoch?" and "is a probe in flight?".
    __slots__ = (
        "_clock",
        "_epoch",
        "closedTicket",
        "failureCount",
        "failureThreshold",
        "lastFailureTime",
        "probeStartedAt",
        "probeTicket",
        "probeTimeoutSeconds",
        "reopenAt",
        "resetTimeoutSeconds",
        "state",
        "successCountInHalfOpen",
    )

    def __init__(
        self,
        failureThreshold: int = 3,
        resetTimeoutSeconds: float = 2.0,
        probeTimeoutSeconds: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _checkParameters(failureThreshold, resetTimeoutSeconds, probeTimeoutSeconds)
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        self.failureThreshold = failureThreshold
        self.resetTimeoutSeconds = float(resetTimeoutSeconds)
        self.probeTimeoutSeconds = (
            None if probeTimeoutSeconds is None else float(probeTimeoutSeconds)
        )
        self._clock = clock
        self._epoch = 0
        self.state = _CLOSED
        self.closedTicket: int | None = 0
        self.failureCount = 0
        self.lastFailureTime: float | None = None
        # Successes in the latest half-open period: the homework closes on the first one, so
        # this reads 1 after a recovery and 0 after a failed probe.
        self.successCountInHalfOpen = 0
        self.reopenAt: float | None = None
        self.probeTicket: int | None = None
        self.probeStartedAt: float | None = None

    # -- deciding ---------------------------------------------------------------------------

    def admit(self) -> tuple[int, bool]:
        """May a call go ahead? Returns ``(ticket, isProbe)`` or raises CircuitOpenError."""
        if self.state is _CLOSED:
            return self._epoch, False
        now = self._clock()
        if self.state is _OPEN:
            if now < self.reopenAt:
                raise CircuitOpenError(
                    f"circuit open after {self.failureCount} consecutive failures; "
                    f"next probe allowed in {self.reopenAt - now:.3f} s",
                    retryAfterSeconds=self.reopenAt - now,
                )
            self._moveTo(_HALF_OPEN, now)
        elif self.probeTicket is not None:
            raise self._probeInFlight(now)
        self.probeTicket = self._epoch
        self.probeStartedAt = now
        return self._epoch, True

    def _probeInFlight(self, now: float) -> CircuitOpenError:
        running = now - self.probeStartedAt
        reset = self.resetTimeoutSeconds
        if self.probeTimeoutSeconds is None:
            return CircuitOpenError(
                f"circuit half_open: its one probe has been in flight for {running:.3f} s; "
                f"if it fails, the next probe is {reset:.3f} s after it ends"
            )
        decidedIn = max(0.0, self.probeTimeoutSeconds - running)
        return CircuitOpenError(
            f"circuit half_open: its one probe has been in flight for {running:.3f} s and is "
            f"decided within {decidedIn:.3f} s; if it fails, the next probe is "
            f"{reset:.3f} s after that",
            retryAfterSeconds=decidedIn,
        )

    # -- being told -------------------------------------------------------------------------

    def recordSuccess(self, ticket: int) -> None:
        """The call admitted with ``ticket`` returned normally."""
        if ticket != self._epoch:
            return
        if self.state is _CLOSED:
            self.failureCount = 0
        elif self.state is _HALF_OPEN and ticket == self.probeTicket:
            self.successCountInHalfOpen += 1
            self._moveTo(_CLOSED, None)

    def recordFailure(self, ticket: int) -> None:
        """The call admitted with ``ticket`` raised (or was cancelled, or overran)."""
        if ticket != self._epoch:
            return
        if self.state is _CLOSED:
            now = self._clock()
            self.failureCount += 1
            self.lastFailureTime = now
            if self.failureCount >= self.failureThreshold:
                self._moveTo(_OPEN, now)
        elif self.state is _HALF_OPEN and ticket == self.probeTicket:
            now = self._clock()
            self.failureCount += 1
            self.lastFailureTime = now
            self._moveTo(_OPEN, now)

    def release(self, ticket: int) -> None:
        """The call admitted with ``ticket`` never reached the service (a caller's TypeError):
        it counts neither way, and a half-open probe slot is handed back for the next caller."""
        if ticket == self._epoch and self.state is _HALF_OPEN and ticket == self.probeTicket:
            # A new epoch, so the released ticket can never decide the period it gave up.
            self._epoch += 1
            self.probeTicket = None
            self.probeStartedAt = None

    # -- the one place state changes --------------------------------------------------------

    def _moveTo(self, new: BreakerState, now: float | None) -> None:
        old = self.state
        if (old, new) not in _TRANSITIONS:
            raise RuntimeError(f"illegal circuit breaker transition {old} -> {new}")
        self._epoch += 1
        self.state = new
        self.probeTicket = None
        self.probeStartedAt = None
        if new is _OPEN:
            self.reopenAt = now + self.resetTimeoutSeconds
        elif new is _HALF_OPEN:
            self.successCountInHalfOpen = 0
        else:
            self.failureCount = 0
            self.reopenAt = None
        self.closedTicket = self._epoch if new is _CLOSED else None

    def describe(self, owner: str) -> str:
        return f"<{owner} {self.state.value} failures={self.failureCount}>"
