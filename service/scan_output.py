"""Writing ``clearance scan`` results: JSONL for machines, an evidence report for people.

Results are written, in input order, as each batch is scanned, and flushed: a pipe downstream
sees them while the input is still being read.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from indexer.readers import (
    FieldNames,
    Format,
    Record,
    Reject,
    RejectTally,
    Source,
    read_batches,
    total_size,
)
from indexer.readers.records import DEFAULT_FIELDS
from service.progress import Rate, byte_bar
from service.results import ScanResult

if TYPE_CHECKING:
    from service.scan_pool import ScanPool

_STYLE = {"keep": "green", "review": "yellow", "remove": "bold red"}


def stdout_console() -> Console:
    """Full width on a terminal; never wrapped when piped (rich would assume 80 columns)."""
    return Console() if sys.stdout.isatty() else Console(width=200, soft_wrap=True)


def rejected_dict(record: Reject) -> dict[str, Any]:
    data: dict[str, Any] = {"id": record.id, "decision": None, "error": record.reason}
    data["line"] = record.location.line
    if record.location.row is not None:
        data["row"] = record.location.row
    return data


class ResultWriter:
    """Writes one line per input record, scanned or rejected, in input order."""

    def __init__(
        self,
        out: Path | None,
        *,
        explain: bool = False,
        progress: bool | None = None,
        tally: RejectTally | None = None,
    ):
        self.out = out
        self.explain = explain
        # By default a bar only when results go to a file: stdout is theirs otherwise.
        self.progress = out is not None if progress is None else progress
        self.tally = tally or RejectTally()
        self._handle: IO[str] | None = None
        self._console = stdout_console()

    @property
    def rejected(self) -> int:
        return self.tally.rejected

    @property
    def scanned(self) -> int:
        return self.tally.records - self.tally.rejected

    def __enter__(self) -> ResultWriter:
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.out.open("w", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def run(
        self,
        scanner: Any,
        sources: Sequence[Source],
        *,
        names: FieldNames = DEFAULT_FIELDS,
        batch_size: int = 32,
        force: Format | None = None,
        pool: ScanPool | None = None,
    ) -> None:
        """Scan every record of ``sources``; raise ``TooManyRejects`` if too few were scanned.

        With a ``pool``, batches are scanned by its workers (``scanner`` is not used) while
        the next ones are read, and written in input order as they come back.
        """
        in_flight: deque[tuple[list[Record | Reject], int, Future[list[ScanResult]]]] = deque()
        with _ScanProgress(sources, self.progress) as bar:
            for source in sources:
                for batch in read_batches(source, names=names, batch_size=batch_size, force=force):
                    items = list(batch.items)
                    if pool is None:
                        self.write_batch(scanner, items)
                        bar.update(batch.bytes_read, len(items))
                        continue
                    docs = [r for r in items if isinstance(r, Record)]
                    future = pool.submit([d.text for d in docs], [d.id for d in docs])
                    in_flight.append((items, batch.bytes_read, future))
                    while len(in_flight) > pool.depth:
                        self._write_scanned(in_flight.popleft(), bar)
            while in_flight:
                self._write_scanned(in_flight.popleft(), bar)
        self.tally.check()

    def _write_scanned(
        self,
        scanned: tuple[list[Record | Reject], int, Future[list[ScanResult]]],
        bar: _ScanProgress,
    ) -> None:
        items, bytes_read, future = scanned
        self.write_results(items, future.result())
        bar.update(bytes_read, len(items))

    def write_batch(self, scanner: Any, batch: Iterable[Record | Reject]) -> None:
        """Scan the batch's records in one scanner call, write every item, flush."""
        batch = list(batch)
        docs = [r for r in batch if isinstance(r, Record)]
        self.write_results(
            batch, scanner.scan_many([d.text for d in docs], ids=[d.id for d in docs])
        )

    def write_results(self, batch: list[Record | Reject], scanned: list[ScanResult]) -> None:
        """Write every item of a batch (its records' results in order), flush."""
        results = iter(scanned)
        for record in batch:
            self.tally.add(record)
            if isinstance(record, Reject):
                self._write(rejected_dict(record), None)
            else:
                result = next(results)
                self._write(result.to_dict(), (record, result))
        (self._handle or sys.stdout).flush()

    def _write(self, data: dict[str, Any], scanned: tuple[Record, ScanResult] | None) -> None:
        if self.explain:
            self._explain(data, scanned)
        line = json.dumps(data, ensure_ascii=False)
        if self._handle is not None:
            self._handle.write(line + "\n")
        elif not self.explain:
            sys.stdout.write(line + "\n")

    def _explain(self, data: dict[str, Any], scanned: tuple[Record, ScanResult] | None) -> None:
        out = self._console
        if scanned is None:
            out.print(f"[bold]{escape(data['id'])}[/]: [red]rejected[/] — {escape(data['error'])}")
            return
        doc, result = scanned
        style = _STYLE[result.decision.value]
        out.print(
            f"[bold]{escape(doc.id)}[/]: [{style}]{result.decision.value.upper()}[/] "
            f"risk {result.risk:.2f}, {len(result.matches)} match(es), {result.chars} chars"
        )
        for match in result.matches:
            m_style = _STYLE[match.decision.value]
            out.print(
                f"  [{m_style}]{match.decision.value:>6}[/] {match.risk:.2f}  "
                f"[bold]{escape(match.corpus)}/{escape(match.ref_id)}[/] ({match.kind}, "
                f"{'+'.join(match.methods)}) similarity {match.similarity:.2f}, "
                f"coverage {match.coverage:.0%} ({match.matched_tokens} tokens)"
            )
            for ev in match.evidence:
                signals = ", ".join(f"{k} {v:.2f}" for k, v in ev.signals.items())
                out.print(
                    f"      {ev.method.value}: doc [{ev.doc_start}:{ev.doc_end}] ↔ ref "
                    f"[{ev.ref_start}:{ev.ref_end}] similarity {ev.similarity:.2f}"
                    + (f" ({escape(signals)})" if signals else "")
                )
            out.print(f"      [dim]“{escape(match.snippet)}”[/]")
        for miss in result.near_misses or ():
            if miss.probability is None:
                verdict = "ruled out before the transformer"
            else:
                verdict = f"probability {miss.probability:.3f} < threshold {miss.threshold:.3f}"
            cosines = f"static cosine {miss.static_cosine:.2f}"
            if miss.cosine is not None and miss.span_cosine is not None:
                cosines += f", cosine {miss.cosine:.2f}, span cosine {miss.span_cosine:.2f}"
            out.print(
                f"  [dim]near miss[/] {escape(miss.corpus)}/{escape(miss.ref_id)}: {cosines}; "
                f"{verdict}; doc [{miss.doc_span[0]}:{miss.doc_span[1]}] ↔ ref "
                f"[{miss.ref_span[0]}:{miss.ref_span[1]}]"
            )


class _ScanProgress:
    """Input bytes read, with documents/s shown."""

    def __init__(self, sources: Sequence[Source], enabled: bool):
        total = total_size(sources) if enabled else None
        self._bar = byte_bar(total, "scanning", enabled=enabled, leave=False)
        self._documents = Rate()

    def __enter__(self) -> _ScanProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.refresh()  # the last counts, shown even when the run took less than a tick
        self._bar.close()

    def update(self, nbytes: int, documents: int) -> None:
        self._documents.add(documents)
        self._bar.set_postfix_str(
            f"{self._documents.per_second:,.1f} documents/s, {self._documents.count:,} documents",
            refresh=False,
        )
        self._bar.update(nbytes)
