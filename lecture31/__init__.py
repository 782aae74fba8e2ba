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
"""

from . import breaker, fanout, pipeline, tiered, tiers
from .breaker import *  # noqa: F403
from .cluster import cpuExecutor
from .fanout import *  # noqa: F403
from .pipeline import *  # noqa: F403
from .tiered import *  # noqa: F403
from .tiers import *  # noqa: F403

__all__ = (
    *tiered.__all__,
    *fanout.__all__,
    *breaker.__all__,
    *pipeline.__all__,
    *tiers.__all__,
    "cpuExecutor",  # the rest of lecture31.cluster is its own business
)
