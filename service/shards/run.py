"""``scan_shards``: the typed function behind ``clearance scan-shards``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from indexer.manifest import IndexManifest
from indexer.readers import InputReadError, RejectTally, Source, find_sources, first_record_fields
from indexer.store import ReferenceIndex
from service.allowlist import Allowlist
from service.policy import Policy
from service.scanner import TIERS, ScanSettings
from service.shards.errors import ShardInputError, ShardScanError
from service.shards.layout import OutputLayout
from service.shards.local import ShardOutcome, run_local
from service.shards.main_guard import refuse_unguarded_main
from service.shards.report import build_report, write_report
from service.shards.scan_batch import ScannerSpec
from service.shards.task import ShardScanOptions
from service.shards.writers import OutputMode


class Engine(StrEnum):
    LOCAL = "local"
    RAY = "ray"


@dataclass(frozen=True)
class ShardScanResult:
    out_dir: Path
    report: dict[str, Any]
    scanned: list[str]  # shard keys committed by this run
    skipped: list[str]  # shard keys already done by an earlier run
    failed: dict[str, str]  # shard key -> error

    @property
    def complete(self) -> bool:
        return bool(self.report["complete"])


def scan_shards(
    inputs: Sequence[str | Path],
    *,
    index: str | Path,
    out: str | Path,
    output: OutputMode | str = OutputMode.ANNOTATED,
    text_field: str = "text",
    id_field: str = "id",
    tiers: Sequence[str] = TIERS,
    policy: Policy | None = None,
    engine: Engine | str = Engine.LOCAL,
    workers: int | None = None,
    ray_address: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    allowlist: Allowlist | None = None,
) -> ShardScanResult:
    """Scan every record of every input shard; resume where an earlier run into ``out`` stopped.

    >>> result = scan_shards(["crawl/"], index="my-index", out="scan-out",
    ...                      tiers=("verbatim",))                          # doctest: +SKIP
    >>> result.report["decisions"]                                         # doctest: +SKIP
    {'keep': 11900, 'review': 40, 'remove': 50}

    Shards that fail (an unreadable file) are listed in ``failed`` and in the report; the rest
    are committed, and running the same call again retries only what is not done.
    Matches the ``allowlist`` covers are reported as allowed and not counted.

    The local engine's workers re-run the calling script as they start, so a script must call
    this under ``if __name__ == "__main__":``; one that does not gets ``UnguardedMainError``
    before any worker starts.
    """
    if Engine(engine) is Engine.LOCAL:
        refuse_unguarded_main()
    out_dir = Path(out).resolve()
    layout = OutputLayout(out_dir)
    shards = find_shards(inputs, exclude=out_dir)
    index_dir = Path(index).resolve()
    # The load's checks, once here: a damaged index is one error, not one per shard and worker.
    manifest = ReferenceIndex.open(index_dir).manifest
    tiers = tuple(tiers)
    # Unknown tiers are refused here, not in every worker; each worker owns one core.
    spec = ScannerSpec(index_dir, ScanSettings(tiers=tiers, threads=1), policy, allowlist=allowlist)
    if "paraphrase" in tiers:
        _check_verifier(manifest)
    options = ShardScanOptions(OutputMode(output), text_field, id_field, batch_size)
    settings = {
        "index": str(index_dir),
        "index_corpora": {c.name: c.checksum for c in manifest.corpora},
        "tiers": list(tiers),
        "output": options.output.value,
        "text_field": text_field,
        "id_field": id_field,
        "policy": (policy or Policy()).to_dict(),
    }
    if allowlist is not None:
        # Other dismissals give other results: a resumed run must not mix the two.
        settings["allowlist"] = {
            "path": allowlist.source,
            "entries": [e.to_dict() for e in allowlist.entries],
        }
    with layout.lock():
        layout.check_run(settings)
        layout.clear_staging()
        todo = [s for s in shards if not layout.is_done(s)]
        todo_keys = {s.key for s in todo}
        skipped = [s.key for s in shards if s.key not in todo_keys]
        if Engine(engine) is Engine.RAY:
            from service.shards.ray_engine import run_ray

            outcomes = run_ray(
                todo,
                spec,
                layout,
                options,
                address=ray_address,
                concurrency=workers,
                progress=progress,
            )
        else:
            outcomes = run_local(todo, spec, layout, options, workers=workers, progress=progress)
        run_info = {**settings, "engine": Engine(engine).value, "inputs": len(shards)}
        report = build_report(layout, shards, outcomes, run_info, manifest)
        write_report(layout, report)
    return ShardScanResult(
        out_dir=out_dir,
        report=report,
        scanned=[o.key for o in outcomes if o.marker is not None],
        skipped=skipped,
        failed=_failures(outcomes),
    )


def find_shards(inputs: Sequence[str | Path], *, exclude: Path | None = None) -> list[Source]:
    """The input files, each once; stdin cannot be resumed, so it is refused."""
    try:
        shards = find_sources(inputs, exclude=exclude, stdin=False)
    except InputReadError as exc:
        raise ShardInputError(str(exc)) from exc
    keys = {s.key for s in shards}
    clash = next((s.key for s in shards if f"{s.key}.jsonl" in keys), None)
    if clash is not None:
        # A text shard's records are written as "<key>.jsonl", which the other one owns.
        raise ShardInputError(
            f"{clash} and {clash}.jsonl would write the same output files; rename one"
        )
    return shards


def reject_tally(
    result: ShardScanResult,
    inputs: Sequence[str | Path],
    *,
    text_field: str = "text",
    max_share: float | None = None,
) -> RejectTally:
    """The run's rejects, as a tally that ``failed`` when (nearly) no record was scanned.

    Kept out of ``scan_shards`` itself: every output is written either way, and a caller may
    want them. The fields of the inputs' first record are read only when it failed.
    """
    totals = result.report["totals"]
    tally = RejectTally(
        text_field=text_field,
        max_share=max_share,
        records=totals["records"],
        rejected=totals["rejected"],
    )
    tally.kinds.update(result.report["rejects"])
    if tally.failed:
        tally.fields = first_record_fields(find_shards(inputs))
    return tally


def _check_verifier(manifest: IndexManifest) -> None:
    """Fail once, here, rather than once per shard in every worker."""
    from service.verifier import PairVerifier

    try:
        PairVerifier.load_default(manifest.settings)
    except FileNotFoundError as exc:
        raise ShardScanError(
            "the paraphrase tier needs service/models/paraphrase_verifier.json, which this "
            "installation lacks; scan with --tiers verbatim, or train it with "
            "`python -m service.verifier_training`"
        ) from exc


def _failures(outcomes: list[ShardOutcome]) -> dict[str, str]:
    return {o.key: o.error for o in outcomes if o.error is not None}
