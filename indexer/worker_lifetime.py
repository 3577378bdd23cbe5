"""Worker processes that die with their parent, however it died.

A parent killed outright (SIGKILL, the OOM killer) runs no clean-up, and its pool workers would
work on through their queued tasks, writing files nobody will use while a rerun owns that work.
So on Linux each worker asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), and everywhere a watchdog thread checks the parent's pid twice a
second. Used by every process pool: the shard scan, ``clearance scan --workers`` and the index
build.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

# How often the watchdog looks for its parent, where the kernel does not tell it.
PARENT_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Make this worker exit as soon as ``parent`` does, however the parent died."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # on failure the watchdog remains
    if os.getppid() != parent:  # the parent died before the kernel was asked
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), name="clearance-parent-watchdog", daemon=True
    ).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    # No clean-up: anything this worker would write now belongs to a run that is gone.
    os._exit(1)
