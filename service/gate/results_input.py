"""Reading an earlier scan's results for ``clearance gate --from-results``.

Two producers are understood:

* ``clearance scan --out results.jsonl``: one result per line, ``{"decision": null, "error":
  ...}`` for a record that could not be scanned;
* the output folder of ``clearance scan-shards`` (layout in service/shards/README.md): every
  scanned record carries its result under ``"clearance"``; unscannable ones are in
  ``rejects/``. Only a complete run is accepted, and each shard's files must hold exactly the
  counts its report says, so a gate never passes a set it has only partly seen.

A file that is not what it claims stops the gate with ``GateInputError`` and the line at fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer.readers import BadLine, InputReadError, Source, read_values

DECISIONS = ("keep", "review", "remove")
SHARD_REPORT = "report.json"
SHARD_REPORT_SCHEMA = "clearance.scan-shards.report/1"
SHARD_RUN = "run.json"
RECORD_FOLDERS = ("annotated", "keep", "review", "remove")
REJECTS = "rejects"


class GateInputError(ValueError):
    """An input the gate cannot read, or results it cannot trust; says which file and line."""

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


def is_shard_results(path: Path) -> bool:
    return path.is_dir() and (path / SHARD_REPORT).is_file()


def read_results(path: Path | str) -> Iterator[dict[str, Any]]:
    """Every result in a results JSONL or a scan-shards output folder, checked as it is read."""
    path = Path(path)
    if is_shard_results(path):
        yield from read_shard_results(path)
    elif path.is_dir():
        raise GateInputError(
            path,
            f"not a scan-shards output folder (no {SHARD_REPORT}); give the --out folder "
            "of `clearance scan-shards` or a `clearance scan --out` JSONL file",
        )
    elif not path.exists():
        raise GateInputError(path, "does not exist")
    else:
        for number, record in _jsonl_objects(path):
            yield check_result(record, path, number)


def shard_run_settings(path: Path) -> dict[str, Any]:
    """The settings a scan-shards run recorded (index, tiers, ...); empty if none."""
    try:
        return json.loads((path / SHARD_RUN).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise GateInputError(path / SHARD_RUN, f"cannot read the run settings: {exc}") from exc


def check_result(record: Any, path: Path, line: int | None) -> dict[str, Any]:
    """The record if it has the shape of a ``ScanResult`` dict (or a rejected record)."""

    def bad(message: str) -> GateInputError:
        return GateInputError(path, message, line)

    if not isinstance(record, dict):
        raise bad("a result must be a JSON object")
    if "decision" not in record:
        hint = (
            " (this looks like documents: drop --from-results to scan them)"
            if ("text" in record)
            else ""
        )
        raise bad(f"not a scan result: no 'decision'{hint}")
    decision = record["decision"]
    if decision is None:
        if not (record.get("error") or record.get("reason")):
            raise bad("a rejected record (decision null) must say why in 'error'")
        return record
    if decision not in DECISIONS:
        raise bad(f"decision must be keep, review or remove, got {decision!r}")
    if not _is_number(record.get("risk")):
        raise bad("'risk' must be a number")
    matches = record.get("matches")
    if not isinstance(matches, list):
        raise bad("'matches' must be a list")
    for match in matches:
        if not isinstance(match, dict):
            raise bad("each match must be a JSON object")
        missing = [k for k in ("ref_id", "corpus", "kind", "risk", "decision") if k not in match]
        if missing:
            raise bad(f"a match lacks {', '.join(missing)}")
        if match["decision"] not in DECISIONS or not _is_number(match["risk"]):
            raise bad(f"match {match['ref_id']!r} has an invalid decision or risk")
    return record


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_shard_results(root: Path) -> Iterator[dict[str, Any]]:
    report = _shard_report(root)
    for shard in report["shards"]:
        yield from _shard_records(root, shard)


def _shard_report(root: Path) -> dict[str, Any]:
    path = root / SHARD_REPORT
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GateInputError(path, f"cannot read the scan-shards report: {exc}") from exc
    if not isinstance(report, dict) or report.get("schema") != SHARD_REPORT_SCHEMA:
        found = report.get("schema") if isinstance(report, dict) else None
        raise GateInputError(path, f"expected schema {SHARD_REPORT_SCHEMA!r}, found {found!r}")
    if not report.get("complete"):
        totals = report.get("totals", {})
        raise GateInputError(
            path,
            f"the scan-shards run is incomplete ({totals.get('shards_done', '?')} of "
            f"{totals.get('shards', '?')} shards done); finish it (rerun the same command) "
            "before gating",
        )
    if not isinstance(report.get("shards"), list):
        raise GateInputError(path, "the report lists no shards")
    return report


def _shard_records(root: Path, shard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    key = shard["file"]
    if not shard.get("done"):
        raise GateInputError(root / SHARD_REPORT, f"shard {key!r} is not done")
    scanned = rejected = 0
    for relative in shard.get("outputs", []):
        path = root / relative
        folder = Path(relative).parts[0]
        if not path.is_file():
            raise GateInputError(
                path, "listed in report.json but missing; the folder was changed after the run"
            )
        if folder == REJECTS:
            for number, record in _jsonl_objects(path):
                rejected += 1
                yield check_result(_rejected(record), path, number)
        elif folder in RECORD_FOLDERS:
            for number, record in _shard_file_records(path):
                scanned += 1
                yield check_result(_clearance(record, path, number), path, number)
        else:
            raise GateInputError(path, f"unexpected output folder {folder!r}")
    expected = (shard.get("scanned"), shard.get("rejected"))
    if expected != (scanned, rejected):
        raise GateInputError(
            root / SHARD_REPORT,
            f"shard {key!r}: the report says {expected[0]} scanned and {expected[1]} rejected, "
            f"its output files hold {scanned} and {rejected}; the folder was changed after the run",
        )


def _rejected(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record.get("id"),
        "decision": None,
        "error": record.get("reason") or "rejected",
        "reason_kind": record.get("reason_kind"),
    }


def _clearance(record: Any, path: Path, number: int | None) -> Any:
    result = record.get("clearance") if isinstance(record, dict) else None
    if not isinstance(result, dict):
        raise GateInputError(path, "a scanned record without its 'clearance' result", number)
    return result


def _shard_file_records(path: Path) -> Iterator[tuple[int | None, Any]]:
    if path.name.endswith(".parquet"):  # scan-shards names its Parquet outputs so
        yield from _parquet_clearance(path)
    else:
        yield from _jsonl_objects(path)


def _parquet_clearance(path: Path) -> Iterator[tuple[int | None, Any]]:
    """Only the ``clearance`` column is read: the text never leaves the disk."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        if "clearance" not in parquet.schema_arrow.names:
            raise GateInputError(path, "no 'clearance' column")
        row = 0
        for batch in parquet.iter_batches(columns=["clearance"]):
            for value in batch.column(0).to_pylist():
                yield row, {"clearance": value}
                row += 1
    except OSError as exc:
        raise GateInputError(path, f"cannot read the Parquet file: {exc}") from exc


def _jsonl_objects(path: Path) -> Iterator[tuple[int | None, Any]]:
    """The JSON values of a results file (JSON lines or a JSON array, compressed or not)."""
    source = Source(str(path.resolve()), path.name)
    try:
        for location, value in read_values(source):
            number = location.line if location.line is not None else location.row
            if isinstance(value, BadLine):
                raise GateInputError(path, value.reason, number)
            yield number, value
    except InputReadError as exc:
        raise GateInputError(path, exc.problem) from exc
