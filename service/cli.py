"""The ``clearance`` command: thin wrappers over the indexer and scanner functions."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from indexer.corpus import Corpus, CorpusInputError, CorpusKind
from indexer.embedding import ModelNotAvailableError
from indexer.manifest import ClearanceIndexError, read_manifest
from indexer.normalize import TextMode
from indexer.parallel_build import DEFAULT_PART_CHARS

app = typer.Typer(
    help="Clearance: find benchmark items and copyrighted works in training data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
index_app = typer.Typer(help="Build and inspect reference indexes.", no_args_is_help=True)
app.add_typer(index_app, name="index")

# soft_wrap: messages stay on one line when stderr is a pipe (CI logs, subprocess callers).
err = Console(stderr=True, soft_wrap=True)

DEMO_INDEX = Path(".clearance/demo-index")

TIERS_HELP = "Comma-separated tiers to run: verbatim, paraphrase."
INDEX_ENV = "CLEARANCE_INDEX"
INDEX_HELP = f"Index folder [env {INDEX_ENV}]."
ALLOWLIST_HELP = (
    "Dismissals from `clearance review` (JSONL): matches it covers are reported as allowed "
    "and not counted."
)
REJECTS_HELP = (
    "Fail (exit 2) when more than this share of records cannot be scanned "
    "[default: only when all of them]."
)


def _stdout_console() -> Console:
    from service.scan_output import stdout_console

    return stdout_console()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"clearance {version('clearance')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Clearance: find benchmark items and copyrighted works in training data."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _progress_factory(enabled: bool):
    """A progress bar per build stage (tqdm on stderr), or nothing."""
    from tqdm import tqdm

    def factory(total: int, label: str, unit: str = "it"):
        if not enabled or total == 0:
            return lambda step: None
        bar = tqdm(total=total, desc=label, unit=f" {unit}s", file=sys.stderr, leave=False)

        def advance(step: int) -> None:
            bar.update(step)
            if bar.n >= total:
                bar.close()

        return advance

    return factory


def _corpora_from_inputs(
    inputs: list[str],
    catalog_names: list[str],
    name: str | None,
    kind: CorpusKind | None,
    mode: TextMode,
) -> list[Corpus]:
    from indexer.reference_inputs import read_references
    from reference_corpora.catalog import load_corpora

    corpora: list[Corpus] = list(load_corpora(catalog_names)) if catalog_names else []
    return corpora + read_references(inputs, name=name, kind=kind, mode=mode)


NAME_HELP = "Corpus name for text works, and for records without 'corpus'."
KIND_HELP = "Kind for records without 'kind', and for text works [default: copyright]."


@index_app.command("build")
def index_build(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Reference records (JSONL, JSON, Parquet) or text works: files, folders, "
            "globs, URLs, '-'."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Index folder to create.")] = DEMO_INDEX,
    corpus: Annotated[
        list[str] | None,
        typer.Option(
            "--corpus", help="A corpus from reference_corpora/manifest.toml (repeatable)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help=NAME_HELP)] = None,
    kind: Annotated[CorpusKind | None, typer.Option(help=KIND_HELP)] = None,
    mode: Annotated[TextMode, typer.Option(help="Tokenization for text works.")] = TextMode.PROSE,
    model: Annotated[str | None, typer.Option(help="Embedding model name or local path.")] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Default backend recorded for scanners (auto, onnx-fp32, torch-fp32, torch-bf16)."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    engine: Annotated[
        str, typer.Option(help="local (process pool) or ray (Ray Data); same index either way.")
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes / Ray actors (default: every core, for 2 MB of text or "
            "more; every CPU of Ray).",
        ),
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Existing Ray cluster (default: start a local one).")
    ] = None,
    part_chars: Annotated[
        int,
        typer.Option(
            min=1, help="Characters of text per part; a killed build resumes from finished parts."
        ),
    ] = DEFAULT_PART_CHARS,
) -> None:
    """Build an index. With no inputs and no --corpus, builds the bundled demo corpora.

    Rerun after a kill, the same command resumes from the parts in OUT.build-parts/.
    """
    from dataclasses import replace

    from indexer.build import build_index
    from indexer.manifest import IndexSettings
    from indexer.parallel_build import BuildEngine, EngineKind
    from reference_corpora.catalog import default_corpora

    if engine not in {e.value for e in EngineKind}:
        raise _fail(f"--engine must be local or ray, not {engine!r}")
    try:
        if inputs or corpus:
            corpora = _corpora_from_inputs(inputs or [], corpus or [], name, kind, mode)
        else:
            corpora = default_corpora()
        settings = IndexSettings()
        embedding = settings.embedding
        if model or backend:
            embedding = replace(
                embedding, model=model or embedding.model, backend=backend or embedding.backend
            )
        settings = replace(settings, embedding=embedding)
        manifest = build_index(
            out,
            corpora,
            settings=settings,
            progress=_progress_factory(progress),
            overwrite=overwrite,
            engine=BuildEngine(EngineKind(engine), workers, ray_address, part_chars),
        )
    except (CorpusInputError, ClearanceIndexError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    err.print(f"built {out}: " + ", ".join(f"{c.name} ({c.items} items)" for c in manifest.corpora))
    _verify_written(out)


@index_app.command("add")
def index_add(
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Reference records or text works, as for build.")
    ] = None,
    index: Annotated[
        Path, typer.Option("--index", envvar=INDEX_ENV, help="Existing index folder.")
    ] = DEMO_INDEX,
    corpus: Annotated[list[str] | None, typer.Option("--corpus", help="Catalog corpus.")] = None,
    name: Annotated[str | None, typer.Option(help=NAME_HELP)] = None,
    kind: Annotated[CorpusKind | None, typer.Option(help=KIND_HELP)] = None,
    mode: Annotated[TextMode, typer.Option(help="Tokenization for text works.")] = TextMode.PROSE,
    replace_existing: Annotated[
        bool, typer.Option("--replace", help="Rebuild a corpus already there.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Add corpora to an index without touching the ones already in it."""
    from indexer.build import add_corpora
    from indexer.takedown import taken_down_again

    try:
        corpora = _corpora_from_inputs(inputs or [], corpus or [], name, kind, mode)
        if not corpora:
            raise CorpusInputError("nothing to add: give inputs or --corpus")
        if replace_existing:
            for replaced, ids in taken_down_again(index, corpora).items():
                err.print(
                    f"[yellow]warning:[/] {replaced}: {len(ids)} item(s) taken down before are "
                    f"in the replacement again{_some(tuple(ids))}; remove them again if need be",
                    highlight=False,
                )
        manifest = add_corpora(
            index, corpora, replace_existing=replace_existing, progress=_progress_factory(progress)
        )
    except (CorpusInputError, ClearanceIndexError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    err.print(f"{index} now holds: " + ", ".join(c.name for c in manifest.corpora))
    _verify_written(index)


@index_app.command("remove")
def index_remove(
    index: Annotated[
        Path, typer.Option("--index", envvar=INDEX_ENV, help="Existing index folder.")
    ] = DEMO_INDEX,
    corpus: Annotated[
        str | None,
        typer.Option(help="Corpus to take out whole; with --items, the corpus they are in."),
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            help="File of items or works to take down, one a line: ID or CORPUS<tab>ID "
            "('-': stdin)."
        ),
    ] = None,
) -> None:
    """Take a corpus, or items or works by id, out of an index without rebuilding anything.

    An id no corpus holds is an error and nothing is removed; one already taken down is
    reported. Scanners and the HTTP service see the change when they next load the index.
    """
    from indexer.store import ReferenceIndex
    from indexer.takedown import read_item_refs, remove_corpus, remove_items

    try:
        if items is not None:
            report = remove_items(index, read_item_refs(items), corpus=corpus)
            for done in report.corpora:
                err.print(_removed_line(done.corpus, done.removed, done.already), highlight=False)
            manifest = report.manifest
        elif corpus is not None:
            manifest = remove_corpus(index, corpus)
            err.print(f"removed corpus {corpus}", highlight=False)
        else:
            raise ClearanceIndexError("nothing to remove: give --corpus NAME or --items FILE")
        # The load check, not a full verify: a takedown wrote a few small files, and hashing
        # every byte of a big index would cost more than the takedown itself.
        ReferenceIndex.open(index)
    except ClearanceIndexError as exc:
        raise _fail(str(exc)) from exc
    err.print(f"{index} now holds: " + ", ".join(c.name for c in manifest.corpora))


def _removed_line(corpus: str, removed: tuple[str, ...], already: tuple[str, ...]) -> str:
    line = f"{corpus}: took down {len(removed)} item(s)" + _some(removed)
    if already:
        line += f"; {len(already)} already taken down" + _some(already)
    return line


def _some(ids: tuple[str, ...], shown: int = 5) -> str:
    if not ids:
        return ""
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return " (" + ", ".join(ids[:shown]) + more + ")"


def _verify_written(index: Path) -> None:
    """Read back what build/add wrote: a disk that lost a write fails here, not in a scan."""
    from indexer.verify import verify_index

    verification = verify_index(index)
    if not verification.sound:
        raise _fail(f"{index} does not verify after writing: {verification.problems[0]}")
    err.print(_verified_summary(verification), highlight=False)


def _verified_summary(verification) -> str:
    return (
        f"verified {verification.index_dir}: {verification.files} files, "
        f"{verification.bytes / 1e6:,.1f} MB, every size and SHA-256 as written"
    )


@index_app.command("verify")
def index_verify(
    index: Annotated[Path, typer.Argument(help="Index folder.")] = DEMO_INDEX,
) -> None:
    """Check every file of an index against the sizes and SHA-256 sums in its manifest.

    Exit 0: sound. Exit 1: damaged (one line per problem, naming the file). Exit 2: no index.
    """
    from indexer.verify import verify_index

    try:
        verification = verify_index(index)
    except ClearanceIndexError as exc:
        raise _fail(str(exc)) from exc
    out = _stdout_console()
    for name, count in verification.removed_items:
        out.print(f"taken down: {count} item(s) of {name}", highlight=False, markup=False)
    for path in verification.leftovers:
        out.print(
            f"note: {path} is left from an interrupted index change (never read; the next "
            "`clearance index add` or `remove` clears it)",
            highlight=False,
            markup=False,
        )
    if verification.sound:
        out.print(f"sound: {_verified_summary(verification)}", highlight=False, markup=False)
        return
    for problem in verification.problems:
        out.print(f"damaged: {problem}", highlight=False, markup=False)
    raise _fail(
        f"{index} is damaged ({len(verification.problems)} problem(s) above); "
        "rebuild the index, or the corpora named, with `clearance index add --replace`",
        code=1,
    )


@index_app.command("info")
def index_info(
    index: Annotated[Path, typer.Argument(help=INDEX_HELP, envvar=INDEX_ENV)] = DEMO_INDEX,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw manifest.")] = False,
) -> None:
    """Show what an index holds and how it was built."""
    from rich.table import Table

    try:
        manifest = read_manifest(index)
    except ClearanceIndexError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False))
        return
    out = _stdout_console()
    settings = manifest.settings
    out.print(
        f"[bold]{index}[/]  format {manifest.format_version}, built {manifest.created_at}, "
        f"updated {manifest.updated_at}"
    )
    out.print(
        f"model {settings.embedding.model} ({settings.embedding.backend}, "
        f"{manifest.dimension}-d, {manifest.model_fingerprint[:23]}…); static model "
        f"{manifest.static_dimension}-d (PCA of it, {manifest.static_checksum[:23]}…)"
    )
    out.print(
        f"n-grams n={settings.ngrams.n} (code {settings.ngrams.code_n}); passages "
        f"{settings.chunking.passage_tokens} tokens every {settings.chunking.passage_stride}; "
        f"normalization v{settings.normalization.version}"
    )
    table = Table(
        "corpus", "kind", "mode", "items", "removed", "passages", "n-grams", "vectors", "checksum"
    )
    for c in manifest.corpora:
        table.add_row(
            c.name,
            c.kind.value,
            c.mode.value,
            str(c.items),
            str(c.removed_items),
            str(c.passages),
            str(c.ngrams),
            c.vector_index,
            c.checksum[:19] + "…",
        )
    out.print(table)
    for gone in manifest.removed_corpora:
        again = "; added again since" if manifest.corpus(gone.name) else ""
        out.print(
            f"removed corpus {gone.name} ({gone.items} item(s), {gone.checksum[:19]}…) "
            f"on {gone.removed_at}{again}",
            highlight=False,
        )


model_app = typer.Typer(help="The embedding models, all local.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("distill")
def model_distill(
    model: Annotated[str, typer.Option(help="Transformer: a registered name or local folder.")] = (
        "all-MiniLM-L6-v2"
    ),
) -> None:
    """Distil the static candidate model from the transformer now (else: on the first build).

    Runs offline (about two minutes on two cores) and caches the result under
    $CLEARANCE_CACHE_DIR (default ~/.cache/clearance); every index gets a copy of it.
    """
    from dataclasses import replace

    from indexer.embedding import model_fingerprint, resolve_model_path
    from indexer.manifest import IndexSettings
    from indexer.static_embedding import StaticModelError, distilled_model_dir, weights_checksum

    settings = IndexSettings()
    settings = replace(settings, embedding=replace(settings.embedding, model=model))
    try:
        path = distilled_model_dir(
            resolve_model_path(model), model_fingerprint(model), settings.static
        )
    except (ModelNotAvailableError, StaticModelError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"static model for {model}: {path} ({weights_checksum(path)[:23]}…)")


@model_app.command("export-onnx")
def model_export_onnx(
    model: Annotated[str, typer.Option(help="Transformer: a registered name or local folder.")] = (
        "all-MiniLM-L6-v2"
    ),
) -> None:
    """Export the transformer to ONNX now (else: on the first scan with onnx-fp32 or auto).

    A command of its own, not part of `distill`: scanners need the export and never the static
    model (each index carries its copy), index builds the other way round. Imports torch once
    (about 10 s); scanners then start without it. Cached beside the static models.
    """
    from indexer.files import sha256_of
    from indexer.onnx_embedding import exported_model_path

    try:
        path = exported_model_path(model)
    except ModelNotAvailableError as exc:  # OnnxExportError is one
        raise _fail(str(exc)) from exc
    typer.echo(f"ONNX export of {model}: {path} (sha256:{sha256_of(path)[:16]}…)")


@app.command("corpora")
def corpora_list() -> None:
    """List the reference corpora this installation knows how to load."""
    from rich.table import Table

    from reference_corpora.catalog import read_catalog

    table = Table("name", "kind", "loader", "path", "license")
    for spec in read_catalog().values():
        table.add_row(
            spec.name, spec.kind.value, spec.loader, str(spec.resolved_path()), spec.license
        )
    _stdout_console().print(table)


BACKEND_HELP = (
    "How the transformer runs: auto (onnx-fp32, which starts without torch, where the model "
    "exports), onnx-fp32, torch-fp32 or torch-bf16. Any backend reads any index of the same model."
)


def _check_index(index: Path) -> None:
    """Open the index (its structure and sizes are checked) before workers load it each."""
    from indexer.store import ReferenceIndex

    ReferenceIndex.open(index)


def _load_scanner(index: Path, tiers: str, backend: str | None = None, **settings):
    from service.scanner import Scanner, ScanSettings, parse_tiers

    policy = settings.pop("policy", None)
    chosen = parse_tiers(tiers)
    return Scanner.load(
        index,
        policy=policy,
        settings=ScanSettings(tiers=chosen, **settings),
        backend=backend,
    )


@app.command("scan")
def scan(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="JSONL, JSON, Parquet or text: files, folders, globs or URLs; '-' or nothing "
            "for stdin."
        ),
    ] = None,
    index: Annotated[Path, typer.Option("--index", envvar=INDEX_ENV, help=INDEX_HELP)] = DEMO_INDEX,
    out: Annotated[Path | None, typer.Option("--out", help="Write JSONL results here.")] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Read the input as JSON lines, whatever it looks like.")
    ] = False,
    text_field: Annotated[str, typer.Option(help="Field holding the text.")] = "text",
    id_field: Annotated[str, typer.Option(help="Field holding the id.")] = "id",
    tiers: Annotated[str, typer.Option(help=TIERS_HELP)] = "verbatim,paraphrase",
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Decision thresholds per corpus kind (JSON, TOML or YAML), the overrides "
            "CLEARANCE_POLICY gives `serve`.",
        ),
    ] = None,
    min_report_risk: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Leave out matches weaker than this.")
    ] = 0.2,
    max_rejected_share: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help=REJECTS_HELP)
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Documents per scanner call.")] = 32,
    explain: Annotated[bool, typer.Option(help="Print evidence for people, not JSON.")] = False,
    near_misses: Annotated[
        int | None,
        typer.Option(
            help="Report this many paraphrase candidates that were not accepted, per document "
            "with none accepted (JSON field near_misses; --explain shows 3)."
        ),
    ] = None,
    backend: Annotated[str | None, typer.Option(help=BACKEND_HELP)] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes, each with its own scanner (default: every core for input "
            "of 4 MB or more, else 1). Results stay in input order.",
        ),
    ] = None,
    allowlist: Annotated[Path | None, typer.Option("--allowlist", help=ALLOWLIST_HELP)] = None,
) -> None:
    """Scan documents and write one JSON result per document, as each batch is scanned."""
    from contextlib import nullcontext

    from indexer.readers import FieldNames, Format, RejectTally, find_sources, total_size
    from service.allowlist import load_allowlist
    from service.policy import load_policy_file
    from service.scan_output import ResultWriter
    from service.scan_pool import ScanPool, auto_workers
    from service.scanner import ScanSettings, parse_tiers
    from service.shards.scan_batch import ScannerSpec

    try:
        sources = find_sources(inputs or ["-"])
        spec = ScannerSpec(
            index,
            ScanSettings(
                tiers=parse_tiers(tiers),
                min_report_risk=min_report_risk,
                near_misses=near_misses if near_misses is not None else (3 if explain else 0),
            ),
            policy=None if policy is None else load_policy_file(policy),
            backend=backend,
            allowlist=load_allowlist(allowlist),
        )
        if workers is None:
            workers = auto_workers(total_size(sources))
        # With workers, each loads its own scanner; the index is checked here first, so that
        # a missing or damaged one is one clear error before any worker starts.
        scanner = spec.load() if workers == 1 else _check_index(index)
        tally = RejectTally(text_field=text_field, max_share=max_rejected_share)
        pool = ScanPool(spec, workers) if workers > 1 else None
        with pool or nullcontext(), ResultWriter(out, explain=explain, tally=tally) as writer:
            writer.run(
                scanner,
                sources,
                names=FieldNames(text=text_field, id=id_field),
                batch_size=batch_size,
                force=Format.JSONL if jsonl else None,
                pool=pool,
            )
    except (
        ClearanceIndexError,
        CorpusInputError,
        ModelNotAvailableError,
        OSError,
        ValueError,
    ) as exc:
        raise _fail(str(exc)) from exc
    if writer.rejected:
        err.print(f"[yellow]{writer.rejected} record(s) rejected; see 'error' in the output[/]")


@app.command("scan-shards")
def scan_shards_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Shards (JSONL, JSON, Parquet, text; .gz, .zst): files, folders, globs, URLs."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder (rerun to resume).")],
    index: Annotated[Path, typer.Option("--index", envvar=INDEX_ENV, help=INDEX_HELP)] = DEMO_INDEX,
    output: Annotated[
        str, typer.Option(help="annotated (all records + clearance) or split (keep/review/remove).")
    ] = "annotated",
    text_field: Annotated[str, typer.Option(help="Field holding the text.")] = "text",
    id_field: Annotated[str, typer.Option(help="Field holding the id (else file:line).")] = "id",
    tiers: Annotated[str, typer.Option(help=TIERS_HELP)] = "verbatim,paraphrase",
    engine: Annotated[str, typer.Option(help="local (process pool) or ray (Ray Data).")] = "local",
    workers: Annotated[
        int | None, typer.Option(help="Worker processes / Ray actors (default: every core).")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Existing Ray cluster (default: start a local one).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Records per scanner call.")] = 64,
    max_rejected_share: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help=REJECTS_HELP)
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    allowlist: Annotated[Path | None, typer.Option("--allowlist", help=ALLOWLIST_HELP)] = None,
) -> None:
    """Scan data shards; write annotated or split shards, rejects and a report to --out."""
    from service.allowlist import load_allowlist
    from service.shards import Engine, OutputMode, scan_shards
    from service.shards.errors import ShardScanError

    if output not in {m.value for m in OutputMode}:
        raise _fail(f"--output must be annotated or split, not {output!r}")
    if engine not in {e.value for e in Engine}:
        raise _fail(f"--engine must be local or ray, not {engine!r}")
    from service.scanner import parse_tiers

    try:
        result = scan_shards(
            inputs,
            index=index,
            out=out,
            output=OutputMode(output),
            text_field=text_field,
            id_field=id_field,
            tiers=list(parse_tiers(tiers)),
            engine=Engine(engine),
            workers=workers,
            ray_address=ray_address,
            batch_size=batch_size,
            progress=progress,
            allowlist=load_allowlist(allowlist),
        )
    except (ClearanceIndexError, ShardScanError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    report = result.report
    totals, decisions = report["totals"], report["decisions"]
    err.print(
        f"{totals['shards_done']}/{totals['shards']} shards done ({len(result.scanned)} now, "
        f"{len(result.skipped)} from before): {totals['records']:,} records — "
        f"[green]{decisions['keep']:,} keep[/], [yellow]{decisions['review']:,} review[/], "
        f"[red]{decisions['remove']:,} remove[/], {totals['rejected']:,} rejected",
        highlight=False,
    )
    for name, bench in report["benchmarks"].items():
        if bench["items_flagged"]:
            err.print(f"  {name}: {bench['items_flagged']} of {bench['items_total']} items flagged")
    err.print(f"report: {result.out_dir / 'report.html'}", highlight=False)
    from service.shards.run import reject_tally

    tally = reject_tally(result, inputs, text_field=text_field, max_share=max_rejected_share)
    if tally.failed:
        raise _fail(tally.message())
    if result.failed:
        for key, error in list(result.failed.items())[:10]:
            err.print(f"[bold red]failed:[/] {key}: {error}", highlight=False)
        raise _fail(f"{len(result.failed)} shard(s) failed; fix them and rerun to finish", code=1)


@app.command("demo")
def demo(
    index: Annotated[
        Path, typer.Option("--index", envvar=INDEX_ENV, help="Where to build the demo index.")
    ] = DEMO_INDEX,
) -> None:
    """Build the demo index from reference_corpora/ (if needed) and scan the sample document."""
    from indexer.build import ensure_index, index_holds
    from indexer.manifest import IndexSettings
    from indexer.readers import Record, SourceLocation
    from reference_corpora.catalog import PACKAGE_DIR, default_corpora
    from service.scan_output import ResultWriter

    corpora = default_corpora()
    if not index_holds(index, corpora, IndexSettings()):
        err.print(f"building the demo index in {index} …")
    ensure_index(index, corpora, progress=_progress_factory(True))
    scanner = _load_scanner(index, "verbatim,paraphrase")
    sample = PACKAGE_DIR / "samples" / "demo_document.txt"
    document = Record(SourceLocation(sample.name), sample.name, sample.read_text(encoding="utf-8"))
    with ResultWriter(None, explain=True) as writer:
        writer.write_batch(scanner, [document])


@app.command("serve")
def serve(
    index: Annotated[Path | None, typer.Option("--index", help=INDEX_HELP)] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind [default 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default 8000; 0 = any free].")] = None,
    tiers: Annotated[str | None, typer.Option(help=TIERS_HELP + " [env CLEARANCE_TIERS]")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
    allowlist: Annotated[
        Path | None,
        typer.Option(
            "--allowlist", help=ALLOWLIST_HELP + " Re-read on reload [env CLEARANCE_ALLOWLIST]."
        ),
    ] = None,
) -> None:
    """Serve the HTTP scan API. Other settings come from CLEARANCE_* variables (README)."""
    from service.allowlist import load_allowlist
    from service.api.settings import ApiSettings, ApiSettingsError

    try:
        options = {"index": index, "host": host, "port": port, "tiers": tiers}
        settings = ApiSettings.from_env(**options, log_level=log_level, allowlist=allowlist)
        read_manifest(settings.index)  # a wrong path fails here, not after start-up
        load_allowlist(settings.allowlist)  # ... and so does a bad allowlist
    except (ApiSettingsError, ClearanceIndexError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    from service.api.server import serve as run_server

    run_server(settings)


@app.command("review")
def review(
    results: Annotated[
        Path, typer.Argument(help="A `scan-shards` --out folder or a `clearance scan --out` file.")
    ],
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            envvar=INDEX_ENV,
            help="Index for the reference texts (default: the one the shard scan recorded).",
        ),
    ] = None,
    docs: Annotated[
        list[str] | None,
        typer.Option("--docs", help="The documents a `clearance scan` results file came from."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    verdicts_out: Annotated[
        Path | None, typer.Option("--verdicts-out", help="Write every verdict as JSONL and exit.")
    ] = None,
    allowlist_out: Annotated[
        Path | None,
        typer.Option("--allowlist-out", help="Write the dismissals as an allowlist and exit."),
    ] = None,
) -> None:
    """Review flagged documents in a web page; verdicts are kept beside the results."""
    from service.review.command import run_review

    try:
        run_review(
            results,
            index=index,
            docs=docs or (),
            host=host,
            port=port,
            verdicts_out=verdicts_out,
            allowlist_out=allowlist_out,
            say=err.print,
        )
    except (ClearanceIndexError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from exc


@app.command("gate")
def gate(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Documents to scan (as for `clearance scan`: files, folders, globs, URLs); with "
            "--from-results: `clearance scan --out` files or `clearance scan-shards` --out folders."
        ),
    ],
    policy: Annotated[Path, typer.Option("--policy", help="Gate policy, .toml or .yaml.")],
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            envvar=INDEX_ENV,
            help=f"Index folder; needed to scan, optional with --from-results [env {INDEX_ENV}].",
        ),
    ] = None,
    from_results: Annotated[
        bool,
        typer.Option("--from-results", help="Judge an earlier scan's results instead of scanning."),
    ] = False,
    report: Annotated[
        Path, typer.Option("--report", help="Where to write the JSON report ('-' for stdout).")
    ] = Path("gate-report.json"),
    results_out: Annotated[
        Path | None,
        typer.Option(
            "--results-out", help="Also save the scan's results (JSONL) for a later re-gate."
        ),
    ] = None,
    tiers: Annotated[str, typer.Option(help=TIERS_HELP)] = "verbatim,paraphrase",
    text_field: Annotated[str, typer.Option(help="JSONL field holding the text.")] = "text",
    id_field: Annotated[str, typer.Option(help="JSONL field holding the id.")] = "id",
    batch_size: Annotated[int, typer.Option(help="Documents per scanner call.")] = 32,
    allowlist: Annotated[Path | None, typer.Option("--allowlist", help=ALLOWLIST_HELP)] = None,
) -> None:
    """Pass or fail a set of documents against a gate policy: exit 0 pass, 1 fail, 2 error."""
    from service.gate.command import run_gate

    code = run_gate(
        inputs,
        policy=policy,
        index=index,
        from_results=from_results,
        report=report,
        results_out=results_out,
        tiers=tiers,
        text_field=text_field,
        id_field=id_field,
        batch_size=batch_size,
        allowlist=allowlist,
    )
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":  # python -m service.cli, as the benchmarks run it
    main()
