"""Shared by the benchmark scripts: a cached real index and a description of the machine."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from indexer.build import ensure_index
from indexer.corpus import Corpus
from indexer.embedding import resolve_backend

CACHE = Path(__file__).resolve().parent / ".cache"


def machine() -> str:
    cpu = platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, no GPU; "
        f"CPU flags: {cpu_flags()}; transformer backend auto = {resolve_backend('auto')}"
    )


# The flags that decide which embedding backend is fast (bfloat16 is emulated without them).
FLAGS_THAT_MATTER = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


def cpu_flags() -> str:
    flags: set[str] = set()
    with contextlib.suppress(OSError, StopIteration):
        line = next(
            line
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        )
        flags = set(line.split(":", 1)[1].split())
    return " ".join(f for f in FLAGS_THAT_MATTER if f in flags) or "none of " + "/".join(
        FLAGS_THAT_MATTER
    )


def git_revision() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cached_index(name: str, corpora: list[Corpus]) -> Path:
    """Build the index once under benchmarks/.cache; rebuild when content or settings change."""
    from service.cli import _progress_factory

    return ensure_index(CACHE / name, corpora, progress=_progress_factory(True))


@dataclass(frozen=True)
class ChildRun:
    """What a benchmark child process printed last (one JSON line), and the CPU seconds of it
    and of every process it waited for (its pool workers)."""

    output: dict
    cpu: float


def run_child(args: list[str], what: str, cwd: Path | None = None) -> ChildRun:
    """Run ``python ARGS`` in a fresh process: a build or a scanner measured on its own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return ChildRun(json.loads(result.stdout.strip().splitlines()[-1]), cpu)
