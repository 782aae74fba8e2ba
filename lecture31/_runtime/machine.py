"""What this interpreter and machine can run at once: usable cores, and whether the GIL is on."""

from __future__ import annotations

import os
import sys
import sysconfig

__all__ = ("gilEnabled", "gilLabel", "usableCores")


def usableCores() -> int:
    """The cores this process may run on (affinity and cgroup-aware where Python can tell)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def gilEnabled() -> bool:
    """False only on a free-threaded build running without the GIL (Python 3.13t+)."""
    isEnabled = getattr(sys, "_is_gil_enabled", None)
    return True if isEnabled is None else bool(isEnabled())


def gilLabel() -> str:
    """How this interpreter runs threads, for headings and machine info."""
    freeThreadedBuild = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    if not gilEnabled():
        return "free-threaded (GIL disabled)"
    if freeThreadedBuild:
        return "free-threaded build, GIL re-enabled"
    return "GIL enabled"
