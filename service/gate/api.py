"""``gate``: the one function behind ``clearance gate``, for pipeline code to call directly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from indexer.manifest import (
    ClearanceIndexError,
    IndexManifest,
    IndexMismatchError,
    read_manifest,
)
from indexer.readers import RejectTally
from service.allowlist import Allowlist, allow_result
from service.gate.evaluate import GateVerdict, evaluate
from service.gate.policy import GatePolicy, load_policy
from service.gate.results_input import (
    GateInputError,
    is_shard_results,
    read_results,
    shard_run_settings,
)
from service.gate.scan_stream import document_files, read_inputs, scan_results
from service.policy import Policy
from service.scanner import TIERS


def gate(
    inputs: Iterable[Path | str] | None = None,
    *,
    policy: GatePolicy | Path | str,
    index: Path | str | None = None,
    results: Iterable[Path | str] | None = None,
    tiers: Sequence[str] = TIERS,
    scan_policy: Policy | None = None,
    text_field: str = "text",
    id_field: str = "id",
    batch_size: int = 32,
    results_out: Path | str | None = None,
    scanner: Any = None,
    allowlist: Allowlist | None = None,
) -> GateVerdict:
    """Scan ``inputs`` (or read earlier ``results``) and judge them against a gate policy.

    ``inputs`` are what ``clearance scan`` reads (JSONL of ``{id, text}``, text files, folders
    of them) and need ``index`` (or a loaded ``scanner``). ``results`` are ``clearance scan
    --out`` files or ``clearance scan-shards`` output folders; with them ``index`` is optional
    and, when given, checks the policy's corpus names and the index the shard scan used.
    ``results_out`` saves the fresh scan's results for a later ``results=`` re-gate.
    Matches the ``allowlist`` covers (reviewers' dismissals) are not counted by any rule, in a
    fresh scan and in earlier results alike.

    >>> verdict = gate(["shard.jsonl"], index="idx", policy="gate.toml")  # doctest: +SKIP
    >>> verdict.passed, [r.rule for r in verdict.failures]                # doctest: +SKIP
    (False, ['corpora.gsm8k-test.zero_tolerance'])

    Raises ``GatePolicyError`` (bad policy), ``GateInputError`` (unreadable input or results),
    ``ClearanceIndexError`` (missing or mismatched index) and ``TooManyRejects`` (no record
    of the inputs could be scanned: a wrong ``text_field``); a policy failure is not an
    error, it is a verdict with ``passed=False``.
    """
    if (inputs is None) == (results is None):
        raise ValueError("give either inputs to scan or results of an earlier scan, not both")
    gate_policy = policy if isinstance(policy, GatePolicy) else load_policy(policy)
    manifest = _index_manifest(index, scanner)
    if manifest is not None:
        gate_policy.check_corpora([c.name for c in manifest.corpora])
    context: dict[str, Any] = {
        "policy_path": None if gate_policy.path is None else str(gate_policy.path),
        "index": None if index is None else str(index),
    }
    if results is not None:
        sources = [Path(p) for p in results]
        _need_some(sources, "results")
        if manifest is not None and index is not None:
            for source in sources:
                _check_shard_index(source, Path(index), manifest)
        stream = _chain(read_results(p) for p in sources)
        if allowlist:
            stream = (allow_result(r, allowlist) for r in stream)
        verdict = _judge(stream, gate_policy, sources=tuple(map(str, sources)), **context)
        return verdict
    if scanner is None:
        if index is None:
            raise ValueError("scanning needs an index (or a loaded scanner)")
        scanner = _load_scanner(Path(index), tiers, scan_policy, allowlist)
    files = document_files(inputs)
    _need_some(files, "inputs")
    tally = RejectTally(text_field=text_field)
    records = read_inputs(files, text_field=text_field, id_field=id_field, tally=tally)
    with _open_out(results_out) as save_to:
        stream = scan_results(scanner, records, batch_size=batch_size, save_to=save_to)
        verdict = _judge(
            stream,
            gate_policy,
            sources=tuple(s.where for s in files),
            tiers=tuple(scanner.settings.tiers),
            **context,
        )
    tally.check()  # every record rejected: the gate saw nothing, it cannot pass or fail it
    return verdict


def _judge(stream: Iterable[dict[str, Any]], policy: GatePolicy, **context: Any) -> GateVerdict:
    verdict = evaluate(stream, policy, **context)
    if verdict.counts.total == 0:
        # An empty set passing every rule is almost always a wrong path in a pipeline.
        raise GateInputError(
            ", ".join(context.get("sources", ())) or "inputs",
            "no documents or results found; nothing to gate",
        )
    return verdict


def _need_some(paths: Sequence[Any], what: str) -> None:
    if not paths:
        raise ValueError(f"no {what} given")


def _chain(streams: Iterable[Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for stream in streams:
        yield from stream


def _load_scanner(
    index: Path, tiers: Sequence[str], scan_policy: Policy | None, allowlist: Allowlist | None
) -> Any:
    from service.scanner import Scanner, ScanSettings

    return Scanner.load(
        index, policy=scan_policy, settings=ScanSettings(tiers=tuple(tiers)), allowlist=allowlist
    )


def _index_manifest(index: Path | str | None, scanner: Any) -> IndexManifest | None:
    if scanner is not None:
        return scanner.index.manifest
    if index is None:
        return None
    return read_manifest(Path(index))


def _check_shard_index(source: Path, index: Path, manifest: IndexManifest) -> None:
    """Refuse shard-scan results made with another index than the one the gate was given."""
    if not is_shard_results(source):
        return  # a `clearance scan --out` file does not record its index
    run = shard_run_settings(source)
    given = {c.name: c.checksum for c in manifest.corpora}
    recorded_corpora = run.get("index_corpora")
    if isinstance(recorded_corpora, dict):
        if recorded_corpora != given:
            changed = sorted(
                k
                for k in recorded_corpora.keys() | given.keys()
                if recorded_corpora.get(k) != given.get(k)
            )
            raise IndexMismatchError(
                f"{source} was scanned with an index whose corpora differ from {index} "
                f"({', '.join(changed)}); gate with the index it was scanned with, or rescan"
            )
        return
    recorded = run.get("index")
    if not recorded or Path(recorded).resolve() == index.resolve():
        return
    try:
        used = read_manifest(Path(recorded))
    except ClearanceIndexError as exc:
        raise IndexMismatchError(
            f"{source} was scanned with the index {recorded}, which cannot be read to compare "
            f"with {index}; drop --index to gate without this check"
        ) from exc
    if {c.name: c.checksum for c in used.corpora} != given:
        raise IndexMismatchError(
            f"{source} was scanned with the index {recorded}, which holds other corpora than "
            f"{index}; gate with --index {recorded} or rescan"
        )


@contextlib.contextmanager
def _open_out(path: Path | str | None) -> Iterator[Any]:
    if path is None:
        yield None
        return
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        yield handle
