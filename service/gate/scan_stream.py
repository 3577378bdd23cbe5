"""Scanning the gate's inputs: the files ``clearance scan`` reads, as a stream of result dicts.

Results come out in the JSON form an earlier run would have written, so a fresh scan and
``--from-results`` are judged by the same code, and can be saved for a later re-gate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from service.gate.results_input import GateInputError
from service.scan_input import InputDocument, RejectedRecord, read_documents
from service.scan_output import rejected_dict

DOCUMENT_SUFFIXES = (".jsonl", ".jsonl.gz", ".txt")


def document_files(inputs: Iterable[Path | str]) -> list[Path]:
    """Input files in order; a folder stands for its JSONL and text files, searched recursively."""
    files: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.endswith(DOCUMENT_SUFFIXES)
            )
            if not found:
                raise GateInputError(path, f"holds no {', '.join(DOCUMENT_SUFFIXES)} files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise GateInputError(path, "does not exist")
    return files


def read_inputs(
    files: Iterable[Path], *, text_field: str = "text", id_field: str = "id"
) -> Iterator[InputDocument | RejectedRecord]:
    for path in files:
        try:
            yield from read_documents(path, text_field=text_field, id_field=id_field)
        except OSError as exc:
            raise GateInputError(path, f"cannot read: {exc}") from exc


def scan_results(
    scanner: Any,
    records: Iterable[InputDocument | RejectedRecord],
    *,
    batch_size: int = 32,
    save_to: IO[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Scan in batches (the paraphrase tier embeds a batch together); one dict per record."""
    batch: list[InputDocument | RejectedRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= batch_size:
            yield from _scan_batch(scanner, batch, save_to)
            batch = []
    if batch:
        yield from _scan_batch(scanner, batch, save_to)


def _scan_batch(
    scanner: Any, batch: list[InputDocument | RejectedRecord], save_to: IO[str] | None
) -> Iterator[dict[str, Any]]:
    docs = [r for r in batch if isinstance(r, InputDocument)]
    scanned = iter(scanner.scan_many([d.text for d in docs], ids=[d.id for d in docs]))
    for record in batch:
        result = (
            rejected_dict(record) if isinstance(record, RejectedRecord) else next(scanned).to_dict()
        )
        if save_to is not None:
            save_to.write(json.dumps(result, ensure_ascii=False) + "\n")
        yield result
