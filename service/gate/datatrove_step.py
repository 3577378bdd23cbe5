"""A datatrove pipeline step: scan each document, annotate it, drop the flagged ones.

Needs the ``datatrove`` extra (``pip install 'clearance[datatrove]'``).

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from service.gate.datatrove_step import ClearanceDatatroveFilter

    LocalPipelineExecutor(pipeline=[
        JsonlReader("raw/"),
        ClearanceDatatroveFilter("index", tiers=("verbatim",),
                                 exclusion_writer=JsonlWriter("flagged/")),
        JsonlWriter("clean/"),
    ], tasks=4).run()
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from service.gate.filters import LazyScanner, annotation
from service.gate.policy import Flagged
from service.policy import Policy
from service.scanner import TIERS


class ClearanceDatatroveFilter(BaseFilter):
    """Scans documents in batches; writes ``clearance_risk``, ``clearance_decision`` and
    ``clearance_matches`` (JSON) into ``doc.metadata``; drops flagged documents with the reason
    ``clearance_review`` or ``clearance_remove`` unless ``drop=False`` (annotate only).
    """

    name = "🛡 Clearance"

    def __init__(
        self,
        index_dir: Path | str,
        *,
        flagged: Flagged | str = Flagged.REVIEW,
        drop: bool = True,
        tiers: Sequence[str] = TIERS,
        scan_policy: Policy | None = None,
        batch_size: int = 32,
        exclusion_writer: DiskWriter | None = None,
    ):
        super().__init__(exclusion_writer=exclusion_writer, batch_size=batch_size)
        self.flagged = Flagged(flagged)
        self.drop = drop
        # Loaded on the first batch in each worker: a pipeline is deep-copied and pickled per task.
        self.scanner = LazyScanner(index_dir, tiers=tiers, scan_policy=scan_policy)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        results = self.scanner.scan([d.text for d in batch], [str(d.id) for d in batch])
        verdicts: list[bool | tuple[bool, str]] = []
        for doc, result in zip(batch, results, strict=True):
            doc.metadata.update(annotation(result))
            self.stat_update(f"clearance_{result.decision.value}")
            if self.drop and self.flagged.includes(result.decision):
                verdicts.append((False, f"clearance_{result.decision.value}"))
            else:
                verdicts.append(True)
        return verdicts
