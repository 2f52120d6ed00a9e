"""What this machine offers a solve: the one place that counts its cores."""
from __future__ import annotations

import os


def machine_cores() -> int:
    """Cores this process may run on (the cap on a solve's ``threads``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def clamp_threads(threads: int | None) -> tuple[int | None, str | None]:
    """``threads`` capped at the machine's cores, and a note saying so when it was."""
    cores = machine_cores()
    if threads is None or threads <= cores:
        return threads, None
    return cores, f"threads {threads} is more than this machine's {cores} cores; used {cores}"
