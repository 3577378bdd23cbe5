"""Writing ``clearance scan`` results: JSONL for machines, an evidence report for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from service.results import ScanResult
from service.scan_input import InputDocument, RejectedRecord

_STYLE = {"keep": "green", "review": "yellow", "remove": "bold red"}


def rejected_dict(record: RejectedRecord) -> dict[str, Any]:
    return {"id": record.id, "decision": None, "error": record.reason, "line": record.line}


class ResultWriter:
    """Writes one line per input record, scanned or rejected, in input order."""

    def __init__(self, out: Path | None, *, explain: bool = False):
        self.out = out
        self.explain = explain
        self.rejected = 0
        self.scanned = 0
        self._handle: IO[str] | None = None
        self._console = Console()

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
        records: Iterable[InputDocument | RejectedRecord],
        *,
        batch_size: int = 32,
    ) -> None:
        from tqdm import tqdm

        bar = tqdm(
            unit="doc", file=sys.stderr, disable=self.out is None, desc="scanning", leave=False
        )
        batch: list[InputDocument | RejectedRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) >= batch_size:
                self._flush(scanner, batch)
                bar.update(len(batch))
                batch = []
        if batch:
            self._flush(scanner, batch)
            bar.update(len(batch))
        bar.close()

    def _flush(self, scanner: Any, batch: list[InputDocument | RejectedRecord]) -> None:
        docs = [r for r in batch if isinstance(r, InputDocument)]
        results = iter(scanner.scan_many([d.text for d in docs], ids=[d.id for d in docs]))
        for record in batch:
            if isinstance(record, RejectedRecord):
                self.rejected += 1
                self._write(rejected_dict(record), None)
            else:
                self.scanned += 1
                result = next(results)
                self._write(result.to_dict(), (record, result))

    def _write(
        self, data: dict[str, Any], scanned: tuple[InputDocument, ScanResult] | None
    ) -> None:
        if self.explain:
            self._explain(data, scanned)
        line = json.dumps(data, ensure_ascii=False)
        if self._handle is not None:
            self._handle.write(line + "\n")
        elif not self.explain:
            sys.stdout.write(line + "\n")

    def _explain(
        self, data: dict[str, Any], scanned: tuple[InputDocument, ScanResult] | None
    ) -> None:
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
