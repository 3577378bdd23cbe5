"""Loops compiled with numba, for the few places where array code would gather more than it
computes (tokenizer spans, token hashes, verifier trees).

Each kernel is compiled on its first call, not at import: numba's start (its import and first
cached load) costs a process about a second, and most entry points (the CLI's help, the HTTP
service's settings check) never run a kernel; ``Scanner.load`` pays it for the scanner.
Compiled code is cached on disk (``NUMBA_CACHE_DIR``, or ``__pycache__`` beside the source), so
no process compiles a kernel again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import Any


def compiled_on_first_use(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a numba ``njit`` kernel, compiled (or loaded from the cache) on first call.

    The plain Python function stays reachable as ``.py_func``, so tests can compare the two.
    """

    @cache
    def kernel() -> Callable[..., Any]:
        import numba

        return numba.njit(cache=True, nogil=True)(function)

    @wraps(function)
    def call(*args: Any) -> Any:
        return kernel()(*args)

    call.py_func = function  # type: ignore[attr-defined]
    return call
