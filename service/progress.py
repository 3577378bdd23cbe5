"""Progress bars over input bytes, shared by `clearance scan` and `clearance scan-shards`.

Bytes, not records, are what the total is known in before reading, so the ETA is honest for
any input size; the records (or documents) and their rate are shown beside it.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def byte_bar(total: int | None, desc: str, *, enabled: bool, leave: bool) -> Any:
    """A tqdm bar counting bytes on stderr (disabled: it draws nothing)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        file=sys.stderr,
        disable=not enabled,
        leave=leave,
    )


class Rate:
    """How many things per second since it was made."""

    def __init__(self) -> None:
        self.count = 0
        self._started = time.perf_counter()

    def add(self, count: int) -> None:
        self.count += count

    @property
    def per_second(self) -> float:
        return self.count / max(time.perf_counter() - self._started, 1e-9)
