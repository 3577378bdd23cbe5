"""Reading a finished ``scan-shards`` output folder back: for the gate, tests and notebooks.

Only shards with a done marker are read, so a folder a crashed run left behind never yields a
half-written shard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.readers import BadLine, Source, read_values
from service.shards.layout import RECORD_FOLDERS, REJECTS, OutputLayout


@dataclass(frozen=True)
class OutputRecord:
    """One record as written: ``folder`` is annotated, keep, review, remove or rejects."""

    folder: str
    shard: str
    data: dict[str, Any]

    @property
    def clearance(self) -> dict[str, Any] | None:
        return self.data.get("clearance")


def read_report(out_dir: Path | str) -> dict[str, Any]:
    return json.loads((Path(out_dir) / "report.json").read_text(encoding="utf-8"))


def iter_output_records(out_dir: Path | str, *, rejects: bool = True) -> Iterator[OutputRecord]:
    """Every record of every done shard (and its rejects), shard by shard, in file order."""
    root = Path(out_dir)
    for marker in OutputLayout(root).markers():
        for relative in marker["outputs"]:
            folder = relative.split("/", 1)[0]
            if folder == REJECTS and not rejects:
                continue
            if folder not in (*RECORD_FOLDERS, REJECTS):
                raise ValueError(f"unexpected output {relative} in {root}")
            for data in _read_file(root / relative):
                yield OutputRecord(folder, marker["file"], data)


def _read_file(path: Path) -> Iterator[dict[str, Any]]:
    for location, value in read_values(Source(str(path.resolve()), path.name)):
        if isinstance(value, BadLine):
            raise ValueError(f"{path}:{location.line}: {value.reason}")
        yield value
