"""The review queue: flagged results, found in pages, without reading every result per request.

On first open the results are read once into a small SQLite index beside them (for each
flagged document: where its record is, its risk, decision, shard, and its matches' corpora and
kinds). A page is then one indexed query, and a document is read back from its file by offset
(plain JSON lines) or by line or row (compressed, Parquet). The index is rebuilt when a results
file changes size or time. Verdicts live in their own file (``store``), attached to each query.

Two producers are read: a ``scan-shards`` output folder (records carry their text and their
result under ``clearance``) and a ``clearance scan --out`` file (results only; the documents
they came from are read from ``docs``, the n-th result being the n-th input record).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from indexer.readers import BadLine, Format, Record, Source, find_sources, read_records, read_values
from indexer.readers.streams import named_format
from service.gate.results_input import (
    DECISIONS,
    RECORD_FOLDERS,
    check_result,
    is_shard_results,
    shard_run_settings,
)
from service.review.store import VerdictStore
from service.shards.results import read_report

FLAGGED = ("review", "remove")
INDEX_FILE = "results-index.sqlite"
VERDICTS_FILE = "verdicts.sqlite"
INDEX_SCHEMA = 3


def review_dir(results: Path) -> Path:
    """Where the index and the verdicts of a results folder or file are kept: beside it."""
    return results / "review" if results.is_dir() else results.with_name(results.name + ".review")


def verdicts_path(results: Path) -> Path:
    return review_dir(results) / VERDICTS_FILE


class ReviewInputError(ValueError):
    """Results the review cannot read; the message names the file and what to give instead."""


@dataclass(frozen=True)
class QueueFilter:
    """Which flagged documents a queue page lists. ``reviewed``: None all, False pending."""

    decisions: tuple[str, ...] = ("review",)
    corpus: str | None = None
    kind: str | None = None
    shard: str | None = None
    reviewed: bool | None = False

    def __post_init__(self) -> None:
        unknown = set(self.decisions) - set(FLAGGED)
        if unknown or not self.decisions:
            raise ValueError(f"decisions must be among {', '.join(FLAGGED)}, got {self.decisions}")


@dataclass(frozen=True)
class QueueRow:
    row: int
    doc_id: str
    shard: str
    risk: float
    decision: str
    flagged: int  # flagged matches
    judged: int  # of them with a verdict
    top: str  # "corpus/ref_id" of the strongest match


@dataclass(frozen=True)
class Facets:
    """What the filters can choose from, and the counts at the top of the queue."""

    results: int
    decisions: dict[str, int]
    corpora: list[str]
    kinds: list[str]
    shards: list[str]


@dataclass(frozen=True)
class StoredDocument:
    """A flagged document read back: its result (JSON form) and its text, if known."""

    row: int
    doc_id: str
    shard: str
    where: str  # file:line (or row) of its record
    result: dict[str, Any]
    text: str | None


class ReviewResults:
    """One results set opened for review: its index, its verdicts, and how to read records.

    >>> results = ReviewResults.open("scan-out")                        # doctest: +SKIP
    >>> [r.doc_id for r in results.page(QueueFilter(), 0, 20)]          # doctest: +SKIP
    """

    def __init__(self, path: Path, folder: Path, docs: Sequence[str] = ()):
        self.path = path
        self.review_dir = folder
        self.docs = tuple(docs)
        self.is_shards = is_shard_results(path)
        run = shard_run_settings(path) if self.is_shards else {}
        self.text_field = run.get("text_field", "text")
        self.index_dir: Path | None = Path(run["index"]) if run.get("index") else None
        self.index_path = folder / INDEX_FILE
        self.store = VerdictStore(folder / VERDICTS_FILE)
        self._local = threading.local()

    @classmethod
    def open(cls, path: Path | str, *, docs: Sequence[str] = ()) -> ReviewResults:
        """Open (and index, the first time or after a change) a results folder or file."""
        path = Path(path)
        if path.is_dir() and not is_shard_results(path):
            raise ReviewInputError(
                f"{path}: not a scan-shards output folder (no report.json); give the --out "
                "folder of `clearance scan-shards` or a `clearance scan --out` file"
            )
        if not path.exists():
            raise ReviewInputError(f"{path}: does not exist")
        results = cls(path, review_dir(path), docs)
        results.refresh()
        return results

    # -- the index ----------------------------------------------------------------------

    def files(self) -> list[tuple[str, str]]:
        """(results file relative to the results path, shard key) of every file to index."""
        if not self.is_shards:
            return [(self.path.name, "")]
        report = read_report(self.path)
        return [
            (relative, shard["file"])
            for shard in report["shards"]
            if shard.get("done")
            for relative in shard.get("outputs", [])
            if relative.split("/", 1)[0] in RECORD_FOLDERS
        ]

    def _file_path(self, relative: str) -> Path:
        return self.path / relative if self.is_shards else self.path

    def signature(self) -> str:
        parts = [INDEX_SCHEMA, self.text_field]
        for relative, _ in self.files():
            stat = self._file_path(relative).stat()
            parts.append([relative, stat.st_size, stat.st_mtime_ns])
        return json.dumps(parts)

    def refresh(self) -> None:
        """Build the index unless the one on disk was built from these very files."""
        signature = self.signature()
        if self.index_path.exists():
            with sqlite3.connect(self.index_path) as db:
                found = db.execute("SELECT value FROM meta WHERE key = 'signature'").fetchone()
            if found and found[0] == signature:
                return
        self._build(signature)

    def _build(self, signature: str) -> None:
        # Built aside and renamed, so a reader never sees half an index, and two reviewers
        # opening the same results at once each end with a whole one.
        tmp = self.index_path.with_name(f".{INDEX_FILE}.{uuid.uuid4().hex}")
        db = sqlite3.connect(tmp)
        try:
            db.executescript(
                """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
                CREATE TABLE docs (row INTEGER PRIMARY KEY, doc_id TEXT, shard TEXT, file TEXT,
                    offset INTEGER, line INTEGER, rowno INTEGER, ordinal INTEGER,
                    risk REAL, decision TEXT, flagged INTEGER, top TEXT);
                CREATE TABLE matches (row INTEGER, corpus TEXT, kind TEXT, ref_id TEXT,
                    risk REAL, decision TEXT);
                """
            )
            counts = {d: 0 for d in DECISIONS}
            docs, matches = [], []
            for place, result in self._results():
                decision = result.get("decision")
                if decision is None:
                    continue
                counts[decision] += 1
                if decision not in FLAGGED:
                    continue
                row = len(docs) + 1
                found = result.get("matches") or []
                flagged = [m for m in found if m.get("decision") in FLAGGED]
                top = f"{found[0]['corpus']}/{found[0]['ref_id']}" if found else ""
                docs.append(
                    (
                        row,
                        str(result.get("id")),
                        *place,
                        result["risk"],
                        decision,
                        len(flagged),
                        top,
                    )
                )
                matches.extend(
                    (row, m["corpus"], m["kind"], m["ref_id"], m["risk"], m["decision"])
                    for m in found
                )
            db.executemany("INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", docs)
            db.executemany("INSERT INTO matches VALUES (?,?,?,?,?,?)", matches)
            db.executescript(
                """
                CREATE INDEX docs_by_risk ON docs (decision, risk DESC, row);
                CREATE INDEX docs_by_rank ON docs (risk DESC, row);
                CREATE INDEX docs_by_id ON docs (doc_id);
                CREATE INDEX matches_by_row ON matches (row, corpus, kind);
                """
            )
            # The filters' choices, worked out once: a page must not scan every match for them.
            choices = {
                name: [r[0] for r in db.execute(sql) if r[0]]
                for name, sql in (
                    ("corpora", "SELECT DISTINCT corpus FROM matches ORDER BY corpus"),
                    ("kinds", "SELECT DISTINCT kind FROM matches ORDER BY kind"),
                    ("shards", "SELECT DISTINCT shard FROM docs ORDER BY shard"),
                )
            }
            meta = {"signature": signature, "results": sum(counts.values()), **counts}
            meta |= {name: json.dumps(values) for name, values in choices.items()}
            db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
            db.commit()
        finally:
            db.close()
        os.replace(tmp, self.index_path)

    def _results(self) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
        """(shard, file, offset, line, row, ordinal) and the result, for every scanned record."""
        if not self.is_shards:
            records = enumerate(_records(self.path), start=1)
            for ordinal, (offset, line, row, result) in records:
                # Checked as the gate checks them: a file that is not results stops here.
                check_result(result, self.path, line if line is not None else row)
                yield ("", self.path.name, offset, line, row, ordinal), result
            return
        for relative, shard in self.files():
            for offset, line, row, data in _records(self._file_path(relative)):
                result = data.get("clearance") if isinstance(data, dict) else None
                if not isinstance(result, dict):
                    raise ReviewInputError(f"{relative}:{line or row}: a record without its result")
                yield (shard, relative, offset, line, row, None), result

    def update_report(self) -> None:
        """Put the verdict counts into a scan-shards folder's report (json and html)."""
        if not self.is_shards:
            return
        from service.shards.layout import OutputLayout
        from service.shards.report import review_section, write_report

        report = read_report(self.path)
        report["review"] = review_section(self.path, report["decisions"])
        write_report(OutputLayout(self.path), report)

    # -- queries ------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        """One connection per thread (the server's), with the verdicts attached read-only."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(_read_only(self.index_path), uri=True, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("ATTACH DATABASE ? AS v", (_read_only(self.store.path),))
            self._local.db = db
        return db

    def _where(self, chosen: QueueFilter) -> tuple[str, list[Any]]:
        params: list[Any]
        # Only flagged documents are indexed: asking for both decisions asks for no clause,
        # and the page then reads in risk order from an index instead of sorting them all.
        clauses, params = ["1"], []
        if set(chosen.decisions) != set(FLAGGED):
            clauses = [f"d.decision IN ({', '.join('?' * len(chosen.decisions))})"]
            params = list(chosen.decisions)
        for column, value in (("corpus", chosen.corpus), ("kind", chosen.kind)):
            if value:
                clauses.append(
                    f"EXISTS (SELECT 1 FROM matches m WHERE m.row = d.row AND m.{column} = ?)"
                )
                params.append(value)
        if chosen.shard:
            clauses.append("d.shard = ?")
            params.append(chosen.shard)
        if chosen.reviewed is not None:
            clauses.append(f"({_JUDGED} >= d.flagged) = ?")
            params.append(int(chosen.reviewed))
        return " AND ".join(clauses), params

    def page(self, chosen: QueueFilter, offset: int, limit: int) -> list[QueueRow]:
        where, params = self._where(chosen)
        rows = self._db().execute(
            f"SELECT d.row, d.doc_id, d.shard, d.risk, d.decision, d.flagged, {_JUDGED} AS judged,"
            f" d.top FROM docs d WHERE {where} ORDER BY d.risk DESC, d.row LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [QueueRow(*row) for row in rows]

    def count(self, chosen: QueueFilter) -> int:
        where, params = self._where(chosen)
        return (
            self._db().execute(f"SELECT COUNT(*) FROM docs d WHERE {where}", params).fetchone()[0]
        )

    def facets(self) -> Facets:
        meta = dict(self._db().execute("SELECT key, value FROM meta").fetchall())
        return Facets(
            results=int(meta["results"]),
            decisions={d: int(meta[d]) for d in DECISIONS},
            corpora=json.loads(meta["corpora"]),
            kinds=json.loads(meta["kinds"]),
            shards=json.loads(meta["shards"]),
        )

    def document(self, row: int) -> StoredDocument:
        found = self._db().execute("SELECT * FROM docs WHERE row = ?", (row,)).fetchone()
        if found is None:
            raise KeyError(row)
        path = self._file_path(found["file"])
        where = f"{found['file']}:{found['line'] or found['rowno'] or found['ordinal']}"
        data = _record_at(path, found["offset"], found["line"], found["rowno"])
        if self.is_shards:
            return StoredDocument(
                row,
                found["doc_id"],
                found["shard"],
                where,
                data["clearance"],
                _text(data.get(self.text_field)),
            )
        return StoredDocument(
            row, found["doc_id"], "", where, data, self._doc_text(found["ordinal"], data)
        )

    def _doc_text(self, ordinal: int, result: dict[str, Any]) -> str | None:
        """The n-th input record's text (results come one per record, in input order); the
        documents are read up to it at each view, so give big inputs to scan-shards instead."""
        if not self.docs:
            return None
        record = _nth(read_records(find_sources(list(self.docs))), ordinal)
        if not isinstance(record, Record) or record.id != result.get("id"):
            raise ReviewInputError(
                f"record {ordinal} of {', '.join(self.docs)} is not the document of result "
                f"{ordinal} ({result.get('id')!r}); give --docs the inputs this scan read"
            )
        return record.text


# A document's flagged matches with a current verdict (verdicts are only made on flagged ones).
_JUDGED = "(SELECT COUNT(*) FROM v.current c WHERE c.doc_id = d.doc_id)"


def _read_only(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _nth(items: Iterator[Any], number: int) -> Any:
    for position, item in enumerate(items, start=1):
        if position == number:
            return item
    raise ReviewInputError(f"item {number} is gone: the files changed after they were indexed")


def _is_plain_jsonl(path: Path) -> bool:
    fmt, compression = named_format(path.name)
    return fmt is Format.JSONL and compression is None


def _records(path: Path) -> Iterator[tuple[int | None, int | None, int | None, Any]]:
    """(byte offset, line, row, value) of every record; offsets only where a seek finds it."""
    if _is_plain_jsonl(path):
        with path.open("rb") as handle:
            offset = 0
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield offset, number, None, json.loads(raw)
                offset += len(raw)
        return
    for location, value in read_values(Source(str(path.resolve()), path.name)):
        if isinstance(value, BadLine):
            raise ReviewInputError(f"{path}:{location.line}: {value.reason}")
        yield None, location.line, location.row, value


def _record_at(path: Path, offset: int | None, line: int | None, row: int | None) -> Any:
    if offset is not None:
        with path.open("rb") as handle:
            handle.seek(offset)
            return json.loads(handle.readline())
    for _, at_line, at_row, value in _records(path):
        if (at_line, at_row) == (line, row):
            return value
    raise ReviewInputError(f"{path}: record {line or row} is gone; the file changed")
