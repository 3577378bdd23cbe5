"""Reviewers' verdicts, kept in SQLite beside the results they judge.

Verdicts are appended, never rewritten: a reviewer who changes their mind adds a verdict, and
the latest one per (document, item) counts (table ``current``, updated in the same transaction).
WAL journaling lets one reviewer's page read while another's verdict is written; each write
takes the write lock up front (``BEGIN IMMEDIATE``) and waits for it, so two reviewers saving
at once both land, and a crash loses at most the verdict being written.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

VERDICTS = ("confirmed", "dismissed")
# How long a writer waits for another's transaction before giving up (they take milliseconds).
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    shard TEXT NOT NULL DEFAULT '',
    corpus TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('confirmed', 'dismissed')),
    level TEXT CHECK (level IN ('document', 'span')),
    ref_start INTEGER,
    ref_end INTEGER,
    flagged_matches INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS current (
    doc_id TEXT NOT NULL,
    corpus TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    verdict_id INTEGER NOT NULL REFERENCES verdicts(id),
    verdict TEXT NOT NULL,
    PRIMARY KEY (doc_id, corpus, ref_id)
);
"""


class VerdictError(ValueError):
    """A verdict that cannot be recorded as given; the message says what is missing."""


@dataclass(frozen=True)
class Verdict:
    """A reviewer's judgement of one match: the document holds the item, or it does not.

    A dismissal says how far it reaches (``level``): ``document`` (this document and this
    item) or ``span`` (this stretch of the item, ``ref_start:ref_end``, in any document).
    ``flagged_matches`` is how many flagged matches the document had, so that the counts
    know when a document is reviewed in full without reading the results.
    """

    doc_id: str
    corpus: str
    ref_id: str
    verdict: Literal["confirmed", "dismissed"]
    reviewer: str
    flagged_matches: int
    shard: str = ""
    level: Literal["document", "span"] | None = None
    ref_start: int | None = None
    ref_end: int | None = None
    note: str = ""
    created_at: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise VerdictError(f"a verdict is confirmed or dismissed, not {self.verdict!r}")
        if not self.reviewer.strip():
            raise VerdictError("a verdict needs the reviewer's name")
        if self.verdict == "dismissed" and self.level not in ("document", "span"):
            raise VerdictError("a dismissal needs its level: document or span")
        if self.level == "span" and (
            self.ref_start is None or self.ref_end is None or self.ref_start >= self.ref_end
        ):
            raise VerdictError("a span dismissal needs the reference span it allows")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReviewCounts:
    """Flagged documents judged so far: reviewed = every flagged match has a verdict."""

    reviewed: int
    confirmed: int  # reviewed, at least one match confirmed
    dismissed: int  # reviewed, every match dismissed

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class VerdictStore:
    """The verdicts file; open one per process (or thread), they all see each other's writes.

    >>> store = VerdictStore("scan-out/review/verdicts.sqlite")           # doctest: +SKIP
    >>> store.record(Verdict("doc-7", "gsm8k-test", "gsm8k-test/20", "dismissed", "ana", 1,
    ...                      level="document", note="a stock phrase"))   # doctest: +SKIP
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        # A server's request threads share this connection: one statement or transaction at
        # a time on it (other processes are kept apart by SQLite's own locks).
        self._lock = threading.RLock()
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _write_ahead_log(self._db)
        self._db.execute("PRAGMA synchronous = FULL")
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, verdict: Verdict) -> Verdict:
        """Append a verdict and make it the current one for its document and item."""
        created = verdict.created_at or datetime.now(UTC).isoformat(timespec="seconds")
        row = {**verdict.to_dict(), "created_at": created}
        row.pop("id")
        with self._transaction():
            cursor = self._db.execute(
                f"INSERT INTO verdicts ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            self._db.execute(
                "INSERT INTO current (doc_id, corpus, ref_id, verdict_id, verdict) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (doc_id, corpus, ref_id) DO UPDATE SET "
                "verdict_id = excluded.verdict_id, verdict = excluded.verdict",
                (verdict.doc_id, verdict.corpus, verdict.ref_id, cursor.lastrowid, verdict.verdict),
            )
        return Verdict(**{**row, "id": cursor.lastrowid})

    def current(self, doc_id: str) -> dict[tuple[str, str], Verdict]:
        """The latest verdict on each of a document's items."""
        with self._lock:
            rows = self._db.execute(
                "SELECT v.* FROM current c JOIN verdicts v ON v.id = c.verdict_id "
                "WHERE c.doc_id = ?",
                (doc_id,),
            ).fetchall()
        return {(r["corpus"], r["ref_id"]): _verdict(r) for r in rows}

    def latest(self) -> Iterator[Verdict]:
        """Every current verdict, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT v.* FROM current c JOIN verdicts v ON v.id = c.verdict_id ORDER BY v.id"
            ).fetchall()
        for row in rows:
            yield _verdict(row)

    def history(self) -> Iterator[Verdict]:
        """Every verdict ever recorded, in order: what the JSONL export holds."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM verdicts ORDER BY id").fetchall()
        for row in rows:
            yield _verdict(row)

    def counts(self) -> ReviewCounts:
        with self._lock:
            row = self._fetch_counts()
        return ReviewCounts(row["reviewed"], row["confirmed"], row["dismissed"])

    def _fetch_counts(self) -> sqlite3.Row:
        return self._db.execute(
            """
            SELECT COUNT(*) AS reviewed,
                   COALESCE(SUM(confirmed > 0), 0) AS confirmed,
                   COALESCE(SUM(confirmed = 0), 0) AS dismissed
            FROM (
                SELECT c.doc_id, COUNT(*) AS judged, MAX(v.flagged_matches) AS flagged,
                       SUM(c.verdict = 'confirmed') AS confirmed
                FROM current c JOIN verdicts v ON v.id = c.verdict_id
                GROUP BY c.doc_id
            ) WHERE judged >= flagged
            """
        ).fetchone()

    def export_jsonl(self, path: Path | str) -> int:
        """Every verdict as JSON lines (the whole history); returns how many."""
        from service.shards.layout import write_atomic

        lines = [json.dumps(v.to_dict(), ensure_ascii=False) for v in self.history()]
        write_atomic(Path(path), "".join(line + "\n" for line in lines))
        return len(lines)

    def _transaction(self):
        return _Immediate(self._db, self._lock)


def _write_ahead_log(db: sqlite3.Connection) -> None:
    """Put the file in write-ahead-log mode, waiting for others who open it at the same time.

    While another connection switches a new file's journal mode, SQLite answers "database is
    locked" at once, without waiting the busy timeout: of 600 opens of fresh verdicts files by
    two reviewers at a time, 43 failed so. The switch is retried until the busy timeout runs
    out.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class _Immediate:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken (or waited for) at the start,
    so a transaction never fails half-way on a lock another writer holds."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock):
        self._db = db
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, kind: object, *rest: object) -> None:
        try:
            self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
        finally:
            self._lock.release()


def _verdict(row: sqlite3.Row) -> Verdict:
    return Verdict(**dict(row))
