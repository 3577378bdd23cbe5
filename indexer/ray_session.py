"""A Ray session for one run: an existing cluster, or a local Ray started and stopped here.

Shared by the Ray executors (the shard scan and the index build), so both treat a running Ray
alike: a session this process did not start is used and left running.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def ray_session(address: str | None, num_cpus: int | None, progress: bool) -> Iterator[Any]:
    """Yield the ``ray`` module, connected; ``num_cpus`` sizes a local Ray started here.

    Raises ``ImportError`` when Ray is not installed; each executor says what to install.
    """
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.INFO if progress else logging.WARNING,
        )
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.print_on_execution_start = progress
        yield ray
    finally:
        if started_here:
            ray.shutdown()
