"""The circuit breaker's state machine: one pure core that decides, two shells that call.

The core never awaits, never does I/O and never runs user code. A shell asks it "may I call?"
(``admit``; ``peek`` answers "would you refuse?" without changing anything), runs the call
itself, then tells it what happened (``recordSuccess`` / ``recordFailure`` / ``release``).
Time comes from an injected ``clock``; the core stores the absolute deadline at which an open
circuit may probe again, not a timestamp to recompute.

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

from .._runtime.checks import checkCallable, checkCount, checkSeconds

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
    its one probe already in flight. A fresh instance per rejection."""

    # Built on every rejection, so built as cheaply as an exception can be: no __init__ of its
    # own (a Python-level __init__ costs several times the raise), and the core passes a
    # _Template plus its values so the message is formatted only when someone reads it.

    def __str__(self) -> str:
        args = self.args
        if args and type(args[0]) is _Template:
            return args[0].format(*args)
        return super().__str__()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    @property
    def retryAfterSeconds(self) -> float | None:
        """Seconds until asking again can help; None when unknown (a sync probe has no bound)."""
        args = self.args
        return args[1] if args and type(args[0]) is _Template else None


class _Template(str):
    """A rejection message waiting for its values: ``{1}`` is retryAfterSeconds, ``{2}...``
    the rest (``{0}`` is the template itself, so ``format(*args)`` lines up)."""

    __slots__ = ()


_OPEN_MESSAGE = _Template(
    "circuit open after {2} consecutive failures; next probe allowed in {1:.3f} s"
)
_PROBING_MESSAGE = _Template(
    "circuit half_open: its one probe has been in flight for {2:.3f} s and is decided within "
    "{1:.3f} s; if it fails, the next probe is {3:.3f} s after that"
)
_PROBING_UNBOUNDED_MESSAGE = _Template(
    "circuit half_open: its one probe has been in flight for {2:.3f} s; if it fails, the next "
    "probe is {3:.3f} s after it ends"
)
_PROBING_OVERRAN_MESSAGE = _Template(
    "circuit half_open: its one probe has been in flight for {2:.3f} s, past its "
    "probeTimeoutSeconds={4}, and has not yet ended (it held off its cancellation); it will "
    "count as a failure, and the next probe is {3:.3f} s after it ends"
)


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
        self.failureThreshold = checkCount(failureThreshold, "failureThreshold")
        self.resetTimeoutSeconds = checkSeconds(resetTimeoutSeconds, "resetTimeoutSeconds")
        # None: the sync breaker, whose probe cannot be cut off (a thread cannot be cancelled).
        self.probeTimeoutSeconds = (
            None
            if probeTimeoutSeconds is None
            else checkSeconds(probeTimeoutSeconds, "probeTimeoutSeconds")
        )
        checkCallable(clock, "clock")
        self._clock = clock
        self._epoch = 0
        self.state = _CLOSED
        self.closedTicket: int | None = 0
        self.failureCount = 0
        self.lastFailureTime: float | None = None
        # Successes in the latest half-open period: the homework closes on the first one, so
        # this reads 1 after a recovery and 0 after a failed probe.
        self.successCountInHalfOpen = 0
        # When an open circuit may probe again; only read while open (inf: not scheduled).
        self.reopenAt = math.inf
        self.probeTicket: int | None = None
        self.probeStartedAt: float | None = None

    # -- deciding ---------------------------------------------------------------------------

    def admit(self) -> int | CircuitOpenError:
        """May a call go ahead? Its ticket if so, else the CircuitOpenError to raise.

        The rejection is returned, not raised, so that a shell raises it after letting go of
        its lock, and the traceback starts at the caller's ``call``.
        """
        if self.state is _CLOSED:
            return self._epoch
        now = self._clock()
        # The same decisions as _rejection, written out: this is the async rejection path.
        if self.state is _OPEN:
            if now < self.reopenAt:
                return CircuitOpenError(_OPEN_MESSAGE, self.reopenAt - now, self.failureCount)
            self._moveTo(_HALF_OPEN, now)
        elif self.probeTicket is not None:
            return self._probeInFlight(now)
        self.probeStartedAt = now  # before probeTicket: lock-free readers rely on the order
        self.probeTicket = self._epoch
        return self._epoch

    def peek(self) -> CircuitOpenError | None:
        """The rejection ``admit`` would return now, found without changing anything; None if
        ``admit`` might let the call through. Safe to call without the sync shell's lock: it
        only reads, and a rejection based on a read a moment old is still a correct answer."""
        if self.state is _CLOSED:
            return None
        return self._rejection(self._clock())

    def _rejection(self, now: float) -> CircuitOpenError | None:
        if self.state is _OPEN:
            if now < self.reopenAt:
                return CircuitOpenError(_OPEN_MESSAGE, self.reopenAt - now, self.failureCount)
            return None
        if self.probeTicket is not None:
            return self._probeInFlight(now)
        return None

    def isProbe(self, ticket: int) -> bool:
        """Was ``ticket`` handed to the half-open probe (and is that probe still undecided)?"""
        return ticket == self.probeTicket

    def _probeInFlight(self, now: float) -> CircuitOpenError:
        # probeStartedAt is set before probeTicket is published, so a probe in flight has one.
        assert self.probeStartedAt is not None
        running = max(0.0, now - self.probeStartedAt)  # a lock-free reader may be a tick behind
        bound = self.probeTimeoutSeconds
        if bound is None:
            return CircuitOpenError(
                _PROBING_UNBOUNDED_MESSAGE, None, running, self.resetTimeoutSeconds
            )
        if running >= bound:
            # Past its bound yet still running: the probe caught its cancellation and carried
            # on. Nobody knows when it will end, so no "decided within 0.000 s".
            return CircuitOpenError(
                _PROBING_OVERRAN_MESSAGE, None, running, self.resetTimeoutSeconds, bound
            )
        return CircuitOpenError(
            _PROBING_MESSAGE, bound - running, running, self.resetTimeoutSeconds
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

    # -- the one place state changes --------------------------------------------------------

    def _moveTo(self, new: BreakerState, now: float | None) -> None:
        old = self.state
        if (old, new) not in _TRANSITIONS:
            raise RuntimeError(f"illegal circuit breaker transition {old} -> {new}")
        # The sync shell reads state, closedTicket, reopenAt, probeTicket and probeStartedAt
        # without its lock, so the order of these stores matters: stop fast admissions first,
        # publish the new state last, and never put None back into probeStartedAt
        # (a reader that just saw OPEN or a probe in flight must find a number there).
        self.closedTicket = None
        self.probeTicket = None
        self._epoch += 1
        if new is _OPEN:
            assert now is not None, "opening needs the time of the failure"
            self.reopenAt = now + self.resetTimeoutSeconds
        elif new is _HALF_OPEN:
            self.successCountInHalfOpen = 0
        else:
            self.failureCount = 0
        self.state = new
        if new is _CLOSED:
            self.closedTicket = self._epoch

    def describe(self, owner: str) -> str:
        return f"<{owner} {self.state.value} failures={self.failureCount}>"
