"""The output folder: where each shard's files go, and how a shard is committed all at once.

A shard's outputs are written under ``.staging/`` and moved into place only when the whole
shard is done; its done marker is written last. A crash leaves either no marker (the rerun
redoes the shard and first deletes anything a half-finished commit moved into place) or a
marker with every output in place. So a rerun never duplicates or loses a record.
Layout and schemas: service/shards/README.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.readers import Format, Source
from service.shards.errors import OutputBusyError, ShardScanConfigError

RECORD_FOLDERS = ("annotated", "keep", "review", "remove")
REJECTS = "rejects"
DONE = "_done"
STAGING = ".staging"
RUN_FILE = "run.json"
MARKER_SCHEMA = "clearance.scan-shards.done/1"


@dataclass(frozen=True)
class OutputLayout:
    root: Path

    def records_path(self, folder: str, key: str, fmt: Format | None = None) -> Path:
        """Records keep their shard's name and format; a text shard's become JSON lines."""
        return self.root / folder / (f"{key}.jsonl" if fmt is Format.TEXT else key)

    def rejects_path(self, key: str, fmt: Format | None = None) -> Path:
        """A JSONL shard's rejects are JSON lines of the same name (and compression); others'
        are ``<key>.jsonl``."""
        return self.root / REJECTS / (key if fmt is Format.JSONL else f"{key}.jsonl")

    def marker_path(self, key: str) -> Path:
        return self.root / DONE / f"{key}.json"

    def new_staging(self) -> Path:
        path = self.root / STAGING / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def clear_staging(self) -> None:
        shutil.rmtree(self.root / STAGING, ignore_errors=True)

    def outputs_of(self, key: str) -> list[Path]:
        """Every name an output of this shard can have, whatever its format."""
        names = [key, f"{key}.jsonl"]
        return [self.root / f / n for f in (*RECORD_FOLDERS, REJECTS) for n in names]

    def is_done(self, shard: Source) -> bool:
        """Done when marked and the input has not changed since (same size and mtime).

        The path is not compared: a folder of shards may move between runs.
        """
        marker = self.read_marker(shard.key)
        if marker is None:
            return False
        now, then = input_signature(shard), marker.get("input", {})
        return (now["size"], now["mtime_ns"]) == (then.get("size"), then.get("mtime_ns"))

    def read_marker(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.marker_path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def markers(self) -> list[dict[str, Any]]:
        folder = self.root / DONE
        if not folder.is_dir():
            return []
        paths = sorted(folder.rglob("*.json"))
        return [json.loads(p.read_text(encoding="utf-8")) for p in paths]

    def commit(self, key: str, staging: Path, files: list[str], marker: dict[str, Any]) -> None:
        """Move a finished shard's staged files into place, then write its marker."""
        self.marker_path(key).unlink(missing_ok=True)
        for stale in self.outputs_of(key):
            stale.unlink(missing_ok=True)
        for relative in files:
            final = self.root / relative
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / relative, final)
        write_atomic(self.marker_path(key), json.dumps(marker, indent=1, ensure_ascii=False))
        shutil.rmtree(staging, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for this run; the OS drops the lock if the process dies."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise OutputBusyError(
                    f"another scan-shards is writing to {self.root}; "
                    "wait for it or use another --out"
                ) from exc
            yield

    def check_run(self, settings: dict[str, Any]) -> None:
        """Record the run's settings, or refuse to mix them with a different earlier run's."""
        path = self.root / RUN_FILE
        if path.exists():
            earlier = json.loads(path.read_text(encoding="utf-8"))
            changed = sorted(
                k for k in settings.keys() | earlier.keys() if settings.get(k) != earlier.get(k)
            )
            if changed:
                raise ShardScanConfigError(
                    f"{self.root} holds results of a run with other settings ({', '.join(changed)}"
                    " differ); rerun with the same settings to resume, or use another --out"
                )
            return
        write_atomic(path, json.dumps(settings, indent=1, ensure_ascii=False))


def input_signature(shard: Source) -> dict[str, Any]:
    return shard.info()


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
