"""Scanning the gate's inputs: what ``clearance scan`` reads, as a stream of result dicts.

Results come out in the JSON form an earlier run would have written, so a fresh scan and
``--from-results`` are judged by the same code, and can be saved for a later re-gate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from indexer.readers import (
    FieldNames,
    InputReadError,
    Record,
    Reject,
    RejectTally,
    Source,
    find_sources,
    read_records,
)
from service.gate.results_input import GateInputError
from service.scan_output import rejected_dict


def document_files(inputs: Iterable[Path | str]) -> list[Source]:
    """Input files in order; a folder or glob stands for its readable files (recursively)."""
    try:
        return find_sources([str(p) for p in inputs])
    except InputReadError as exc:
        raise GateInputError(exc.where, exc.problem) from exc


def read_inputs(
    sources: Iterable[Source],
    *,
    text_field: str = "text",
    id_field: str = "id",
    tally: RejectTally | None = None,
) -> Iterator[Record | Reject]:
    names = FieldNames(text=text_field, id=id_field)
    try:
        for item in read_records(sources, names=names):
            if tally is not None:
                tally.add(item)
            yield item
    except InputReadError as exc:
        raise GateInputError(exc.where, exc.problem) from exc


def scan_results(
    scanner: Any,
    records: Iterable[Record | Reject],
    *,
    batch_size: int = 32,
    save_to: IO[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Scan in batches (the paraphrase tier embeds a batch together); one dict per record."""
    batch: list[Record | Reject] = []
    for record in records:
        batch.append(record)
        if len(batch) >= batch_size:
            yield from _scan_batch(scanner, batch, save_to)
            batch = []
    if batch:
        yield from _scan_batch(scanner, batch, save_to)


def _scan_batch(
    scanner: Any, batch: list[Record | Reject], save_to: IO[str] | None
) -> Iterator[dict[str, Any]]:
    docs = [r for r in batch if isinstance(r, Record)]
    scanned = iter(scanner.scan_many([d.text for d in docs], ids=[d.id for d in docs]))
    for record in batch:
        result = rejected_dict(record) if isinstance(record, Reject) else next(scanned).to_dict()
        if save_to is not None:
            save_to.write(json.dumps(result, ensure_ascii=False) + "\n")
        yield result
