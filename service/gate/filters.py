"""Document filters for data tools: a callable for Hugging Face ``datasets``.

The datatrove step lives in ``service.gate.datatrove_step`` (datatrove is an optional extra).
Both share ``LazyScanner``: data tools copy, pickle and hash their functions (``datasets``
fingerprints every ``map``/``filter`` function, datatrove deep-copies a pipeline per task and
pickles it to workers), so the scanner is loaded on first use in each process and never travels
with the object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from indexer.manifest import MANIFEST_NAME, ClearanceIndexError, read_manifest
from service.gate.policy import Flagged
from service.policy import Policy
from service.results import ScanResult
from service.scanner import TIERS

# Columns (or metadata keys) the annotations are written to. Matches are a JSON string: Arrow
# and Parquet need one type per column, and a list that is empty in the first batch has none.
RISK = "clearance_risk"
DECISION = "clearance_decision"
MATCHES = "clearance_matches"


class LazyScanner:
    """A scanner description that loads the real ``Scanner`` when first asked to scan.

    Its pickled state is also its identity for caches: ``datasets`` fingerprints a filter by
    pickling it, and reuses an earlier result when the fingerprint matches. So the state
    carries the index's content checksum as it is on disk now, besides the settings: an index
    rebuilt in place (same path, other content) is a new fingerprint, not a stale cache hit.
    For the same reason a loaded scanner is reloaded when the index's manifest is replaced.
    """

    def __init__(
        self,
        index_dir: Path | str,
        *,
        tiers: Sequence[str] = TIERS,
        scan_policy: Policy | None = None,
    ):
        self.index_dir = Path(index_dir)
        self.tiers = tuple(tiers)
        self.scan_policy = scan_policy
        self._scanner: Any = None
        self._loaded_manifest: tuple[int, int, int] | None = None

    @property
    def scanner(self) -> Any:
        on_disk = _manifest_signature(self.index_dir)
        if self._scanner is None or on_disk != self._loaded_manifest:
            from service.scanner import Scanner, ScanSettings

            self._scanner = Scanner.load(
                self.index_dir, policy=self.scan_policy, settings=ScanSettings(tiers=self.tiers)
            )
            self._loaded_manifest = on_disk
        return self._scanner

    def index_checksum(self) -> str | None:
        """The content checksum of the index on disk now; None if there is no readable one
        (the scan will then say why)."""
        try:
            return read_manifest(self.index_dir).content_checksum()
        except ClearanceIndexError:
            return None

    def scan(
        self, texts: Sequence[str], ids: Sequence[str | None] | None = None
    ) -> list[ScanResult]:
        return self.scanner.scan_many(list(texts), ids=ids)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_scanner"] = None
        state["_loaded_manifest"] = None
        state["index_checksum"] = self.index_checksum()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state.pop("index_checksum", None)
        self.__dict__.update(state)


def _manifest_signature(index_dir: Path) -> tuple[int, int, int] | None:
    """Changes whenever the manifest is rewritten (the build replaces it, a new inode)."""
    try:
        stat = (index_dir / MANIFEST_NAME).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def annotation(result: ScanResult) -> dict[str, Any]:
    """The columns a scan adds to one document."""
    return {
        RISK: round(result.risk, 4),
        DECISION: result.decision.value,
        MATCHES: json.dumps([m.to_dict() for m in result.matches], ensure_ascii=False),
    }


class ClearanceFilter:
    """Keep documents the scanner does not flag; works with ``Dataset.filter`` and ``.map``.

    Called with one text it returns a bool, with a list of texts (``batched=True``) a list of
    bools; an example dict (no ``input_columns``) is read from ``text_column``.

    >>> keep_clean = ClearanceFilter("index", tiers=("verbatim",))  # doctest: +SKIP
    >>> clean = ds.filter(keep_clean, input_columns="text", batched=True)  # doctest: +SKIP
    >>> scored = ds.map(keep_clean.annotate, input_columns="text", batched=True)  # doctest: +SKIP
    """

    def __init__(
        self,
        index_dir: Path | str,
        *,
        flagged: Flagged | str = Flagged.REVIEW,
        tiers: Sequence[str] = TIERS,
        scan_policy: Policy | None = None,
        text_column: str = "text",
    ):
        self.flagged = Flagged(flagged)
        self.text_column = text_column
        self.scanner = LazyScanner(index_dir, tiers=tiers, scan_policy=scan_policy)

    def __call__(self, data: str | Sequence[str] | Mapping[str, Any]) -> bool | list[bool]:
        texts, batched = self._texts(data)
        keep = [not self.flagged.includes(r.decision) for r in self.scanner.scan(texts)]
        return keep if batched else keep[0]

    def annotate(self, data: str | Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
        """Risk, decision and matches as new columns, for ``Dataset.map``."""
        texts, batched = self._texts(data)
        rows = [annotation(r) for r in self.scanner.scan(texts)]
        if not batched:
            return rows[0]
        return {key: [row[key] for row in rows] for key in (RISK, DECISION, MATCHES)}

    def _texts(self, data: str | Sequence[str] | Mapping[str, Any]) -> tuple[list[str], bool]:
        if isinstance(data, Mapping):
            data = data[self.text_column]
        if isinstance(data, str):
            return [data], False
        return list(data), True
