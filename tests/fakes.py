"""Test doubles: a clock that moves only when told, a service error, pools that record calls."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from lecture31._pools import processContext


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


# --- Recording pools: real executors that remember what they were handed ------------------


class RecordingProcessPool(ProcessPoolExecutor):
    """A real process pool (the package's start method) that records every (fn, args, kwargs)."""

    def __init__(self, maxWorkers: int = 2) -> None:
        super().__init__(max_workers=maxWorkers, mp_context=processContext())
        self.calls: list[tuple] = []

    def submit(self, fn, /, *args, **kwargs):
        self.calls.append((fn, args, kwargs))
        return super().submit(fn, *args, **kwargs)


class RecordingThreadPool(ThreadPoolExecutor):
    """A real thread pool that records every (fn, args, kwargs) it was handed."""

    def __init__(self, maxWorkers: int = 10, name: str = "recording") -> None:
        super().__init__(max_workers=maxWorkers, thread_name_prefix=name)
        self.calls: list[tuple] = []

    def submit(self, fn, /, *args, **kwargs):
        self.calls.append((fn, args, kwargs))
        return super().submit(fn, *args, **kwargs)
