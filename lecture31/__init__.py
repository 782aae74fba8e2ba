"""lecture31: Lecture 31's concurrency architecture patterns, implemented and measured.

The tree is the architecture. Imports only go down:

    cli.py, report/cli.py, gate/cli.py, every __main__  the command lines
      |
    demos/                                            beyond the homework: analyses, models,
      |                                               measurements (each only prints)
    tiered/  fanout/  breaker/  pipeline/             the four exercises, each with the main()
    tiers/   cluster/   report/   gate/               its homework asks for; which tier; the
      |                                               CPU tier; the report; the A/B gate
    _runtime/                                         pools, signals, gathering, dispatch,
                                                      checks, seeding: knows no exercise

tests/test_layering.py walks the package and fails on an import cycle or an upward import.
Every public name is re-exported here, and tests/test_package.py pins them (each exercise's
``__all__``); what lies behind an exercise (its modules) is private.

The re-exports are lazy (PEP 562): ``import lecture31`` imports no exercise, and
``lecture31.runTiered`` (or ``from lecture31 import runTiered``) imports ``lecture31.tiered`` on
first use. Why: the gate (``python -m lecture31.gate``) runs from the very tree it measures, and
must not fail (or measure itself) because an exercise of that tree is broken; the bench and
every command import what they use.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The modules whose whole ``__all__`` is re-exported here, and those re-exported only in part.
_EXERCISES = ("tiered", "fanout", "breaker", "pipeline", "tiers")
_PARTLY: dict[str, tuple[str, ...]] = {"cluster": ("cpuExecutor",)}  # the rest is its own


def _declaredAll(module: str) -> tuple[str, ...]:
    """``lecture31.<module>.__all__`` read from its source, without importing it: each module
    declares its public names once, and this package stays lazy."""
    source = Path(__file__).with_name(module) / "__init__.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise ImportError(f"{source} declares no literal __all__")


@functools.cache
def _home() -> dict[str, str]:
    """Each public name and the module it lives in."""
    exports = {module: _declaredAll(module) for module in _EXERCISES} | _PARTLY
    return {name: module for module, names in exports.items() for name in names}


if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from . import (
        breaker as breaker,
        cluster as cluster,
        fanout as fanout,
        pipeline as pipeline,
        tiered as tiered,
        tiers as tiers,
    )
    from .breaker import *  # noqa: F403
    from .cluster import cpuExecutor as cpuExecutor
    from .fanout import *  # noqa: F403
    from .pipeline import *  # noqa: F403
    from .tiered import *  # noqa: F403
    from .tiers import *  # noqa: F403


def __getattr__(name: str) -> Any:
    """A public name, or an exercise module, imported on first use (then cached here)."""
    if name == "__all__":
        value: Any = tuple(_home())
    elif name in _home():
        value = getattr(importlib.import_module(f"{__name__}.{_home()[name]}"), name)
    elif name in _EXERCISES or name in _PARTLY:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_home(), *_EXERCISES, *_PARTLY})
