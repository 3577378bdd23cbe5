"""Workers die with their parent: a ``clearance scan-shards`` killed outright leaves nothing
running and writes nothing more (the rerun owns the shards it had started)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.service.shards.shard_helpers import write_jsonl

CLEARANCE = str(Path(sys.executable).with_name("clearance"))
SHARDS, PAGES = 4, 1000


@pytest.fixture(scope="module")
def long_shards(tmp_path_factory, data_root) -> Path:
    """Four shards of 1,000 real web pages each: long enough to kill a run in the middle."""
    docs = [
        json.loads(line)["text"]
        for name in ("c4_sample_1000", "llamafactory_c4_demo_300")
        for line in (data_root / "web" / f"{name}.jsonl").open(encoding="utf-8")
    ]
    folder = tmp_path_factory.mktemp("long") / "in"
    for n in range(SHARDS):
        texts = [docs[(n * 250 + i) % len(docs)] for i in range(PAGES)]
        lines = [json.dumps({"id": f"{n}-{i}", "text": t}).encode() for i, t in enumerate(texts)]
        write_jsonl(folder / f"part-{n}.jsonl", lines, None)
    return folder


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: no psutil here)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whatever reaps it here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    files = {}
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                stat = path.stat()
                files[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            continue
    return files


def staged_bytes(out: Path) -> bool:
    return any(size for size, _ in snapshot(out / ".staging").values())


def test_killing_the_parent_stops_its_workers_and_every_write(long_shards, small_index, tmp_path):
    out = tmp_path / "out"
    command = [
        CLEARANCE,
        "scan-shards",
        "--index",
        str(small_index),
        "--out",
        str(out),
        str(long_shards),
        "--tiers",
        "verbatim",
        "--workers",
        "2",
        "--batch-size",
        "8",
        "--no-progress",
    ]
    parent = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and parent.poll() is None:
            if staged_bytes(out) and len([p for p in children_of(parent.pid) if running(p)]) >= 2:
                break  # both workers started and writing
            time.sleep(0.05)
        assert parent.poll() is None, "the scan finished before it could be killed"
        workers = children_of(parent.pid)

        os.kill(parent.pid, signal.SIGKILL)  # the parent alone: no clean-up code runs
        parent.wait()
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 5 and any(running(p) for p in workers):
            time.sleep(0.05)
        alive = [p for p in workers if running(p)]
        assert not alive, f"workers {alive} still running 5 s after their parent was killed"
        assert len(list((out / "_done").glob("*.json"))) < SHARDS

        before = snapshot(out)
        time.sleep(2)
        assert snapshot(out) == before, "files changed after the run was killed"
    finally:
        # Leave nothing behind even when the test fails (the group outlives its leader).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
