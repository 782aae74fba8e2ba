"""Seeded randomness that does not depend on how the event loop schedules tasks.

Concurrent tasks that share one ``random.Random`` draw from it in whatever order the loop runs
them, so the same seed could give different traces. Instead every request / shard / sensor gets
its own generator, derived from the run's seed and its own labels.
"""

from __future__ import annotations

import random
from typing import overload

__all__ = ("derivedRng",)


@overload
def derivedRng(seed: int, *labels: object) -> random.Random: ...
@overload
def derivedRng(seed: None, *labels: object) -> None: ...
@overload
def derivedRng(seed: int | None, *labels: object) -> random.Random | None: ...


def derivedRng(seed: int | None, *labels: object) -> random.Random | None:
    """An independent generator for ``labels`` under ``seed``; None (module random) if unseeded.

    ``random.Random`` seeded with a ``str`` hashes it with SHA-512, so the stream is the same in
    every process and unaffected by ``PYTHONHASHSEED``.
    """
    if seed is None:
        return None
    return random.Random(":".join(map(str, (seed, *labels))))
