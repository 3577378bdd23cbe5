"""Index scale (issue 13): build time, bytes on disk and scanner memory and speed at 1x, 10x
(and, given the hours, 100x) the real books, extrapolated to a billion reference tokens.

Size k is an index of the benchmark corpora (``benchmarks.shard_scan.corpora``: GSM8K test,
HumanEval, TruthfulQA, 3,000 MMLU-test items, five books) plus a ``library`` corpus of every
book in ``../shared/data/books`` and k - 1 varied copies of each with their own ids: every
paragraph's sentences shuffled and a ``SUBSTITUTION`` share of its words replaced by words
drawn from the same book (so word frequencies, and with them rare-term postings, stay the
book's), seeded per copy. A copy keeps about (1 - SUBSTITUTION)^5 of its 5-grams, so postings,
rare terms and vectors grow about as distinct text would (the table says how many hashes are
distinct).

Each index is built once with the local parallel build (``BuildEngine``, every core) and kept
in ``benchmarks/.cache/index-scale-<k>x``. A fresh process per (size, tiers) loads a scanner,
reads its memory from ``/proc/self/status`` and ``/proc/self/smaps_rollup``, scans 1,000 real
C4 pages (one in 50 carries a planted GSM8K item or book passage, as in the shard-scan
benchmark) and reads it again. Memory columns: RSS, peak RSS (VmHWM), and the anonymous part
of RSS (heap: what the process copied or computed, private to it); the rest of RSS is pages of
memory-mapped index files, which the page cache shares between every worker that maps them.

    python -m benchmarks.index_scale                  # 1x and 10x
    python -m benchmarks.index_scale --sizes 1,10,100 # 100x too: hours on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks._common import CACHE, git_revision, machine, run_child
from benchmarks.shard_scan import corpora, make_shards
from indexer.corpus import Corpus, CorpusKind, ReferenceItem, read_text_works
from indexer.manifest import read_manifest
from reference_corpora.catalog import data_dir
from reference_corpora.transforms import reorder_sentences

SUBSTITUTION = 0.3
CHILDREN = resource.RUSAGE_CHILDREN
SCAN_DOCS = 1000
WARM_DOCS = 100
BATCH = 100
TARGET_TOKENS = 1_000_000_000
TIERS = {"both": ("verbatim", "paraphrase"), "verbatim": ("verbatim",)}
FILE_GROUPS = {
    "postings": (
        "ngram_hashes.npy",
        "ngram_passages.npy",
        "ngram_presence.npy",
        "passage_grams.npy",
        "term_hashes.npy",
        "term_passages.npy",
        "passage_terms.npy",
    ),
    "vectors": ("static.faiss",),
    "text": ("texts.bin", "text_offsets.npy", "items.jsonl"),
}


def varied_copy(work: ReferenceItem, copy: int) -> ReferenceItem:
    """The work with its paragraphs' sentences shuffled and some words swapped, seeded by its
    id and copy number (the same copy on every run)."""
    rng = random.Random(f"{work.id}~{copy}")
    words = re.findall(r"[A-Za-z]+", work.text)

    def swap(match: re.Match[str]) -> str:
        return rng.choice(words) if rng.random() < SUBSTITUTION else match.group()

    paragraphs = [reorder_sentences(p, rng) for p in re.split(r"\n\s*\n", work.text)]
    text = re.sub(r"[A-Za-z]+", swap, "\n\n".join(paragraphs))
    return ReferenceItem(f"{work.id}~v{copy}", text, {**work.meta, "varied_copy": copy})


def library(size: int) -> Corpus:
    """Every book, and ``size - 1`` varied copies of each (made on every core: 3.3 MB/s on
    one here, so 23 minutes of one core at 100x; the copies do not depend on who made them)."""
    files = sorted((data_dir() / "books").glob("books_*.txt"))
    works = [read_text_works(f, name="library").items[0] for f in files]
    copies = [(work, k) for work in works for k in range(1, size)]
    if len(copies) < 64:
        made = [varied_copy(work, k) for work, k in copies]
    else:
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            made = list(pool.map(_varied_copy, copies, chunksize=16))
    of_work = iter(made)
    items = [copy for w in works for copy in [w, *(next(of_work) for _ in range(1, size))]]
    return Corpus("library", CorpusKind.COPYRIGHT, items, source="books (varied copies)")


def _varied_copy(work_and_copy: tuple[ReferenceItem, int]) -> ReferenceItem:
    return varied_copy(*work_and_copy)


def index_dir(size: int) -> Path:
    return CACHE / f"index-scale-{size}x"


def build_size(size: int) -> dict:
    """Build size ``size`` in this process (the benchmark runs it in a fresh one)."""
    from indexer.build import build_index
    from indexer.parallel_build import BuildEngine

    refs = [*corpora(data_dir(), 3000), library(size)]
    out = index_dir(size)
    started = time.perf_counter()
    manifest = build_index(out, refs, engine=BuildEngine(), overwrite=True)
    seconds = time.perf_counter() - started
    # The largest process of the build: this one (the merge) or a worker.
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, CHILDREN))
    return {
        "seconds": seconds,
        "passages": sum(c.passages for c in manifest.corpora),
        "peak_rss_mb": peak / 1024,
    }


def built(size: int) -> dict:
    """The size's build record: from the cache, or from a build in a fresh process."""
    record = index_dir(size) / "scale-build.json"
    if record.exists():
        return json.loads(record.read_text())
    run = run_child(["-m", "benchmarks.index_scale", "--build-one", str(size)], f"{size}x build")
    stats = run.output | {"cpu": run.cpu, "revision": git_revision()}
    record.write_text(json.dumps(stats))
    return stats


def memory() -> dict[str, float]:
    """This process's RSS, peak RSS and the anonymous (private heap) part of RSS, in MB."""
    fields: dict[str, float] = {}
    for name in ("/proc/self/status", "/proc/self/smaps_rollup"):
        for line in Path(name).read_text().splitlines():
            key, _, value = line.partition(":")
            parts = value.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[key] = int(parts[0]) / 1024
    return {
        "rss": fields["VmRSS"],
        "hwm": fields["VmHWM"],
        "anon": fields["Anonymous"],
        "private": fields["Private_Clean"] + fields["Private_Dirty"],
        "shared": fields["Shared_Clean"] + fields["Shared_Dirty"],
    }


def scan_pages() -> list[str]:
    """The C4 pages with the shard-scan benchmark's planted items (1,300)."""
    root = data_dir()
    folder = CACHE / "index-scale-pages"
    make_shards(folder, root, corpora(root, 3000), copies=1, shards=1)
    with (folder / "part-000.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def measure_scanner(index: Path, tiers: Sequence[str]) -> dict:
    """Load a scanner, scan ``SCAN_DOCS`` pages; memory after each and CPU time of the scan
    (this process, every thread).

    ``WARM_DOCS`` other pages are scanned first, as one batch: what a scanner loads or builds
    on first use (rare-term weights, compiled patterns, the paraphrase tier's buckets, the
    presence filters of an index without them) costs once per process, not per record, and is
    reported apart (``first_use_cpu_s``). One page was too few: it held no match, so the
    loads that alignment triggers (0.5 CPU-s) fell in the 1,000 pages' time.
    """
    from service.scanner import Scanner, ScanSettings

    pages = scan_pages()
    started = time.perf_counter()
    # One thread, as each worker of a shard scan has (``ScanSettings(threads=1)``): FAISS's
    # OpenMP pool of a thread per core otherwise spins on the CPU time measured here.
    scanner = Scanner.load(index, settings=ScanSettings(tiers=tuple(tiers), threads=1))
    load_seconds = time.perf_counter() - started
    loaded = memory()
    cpu = time.process_time()
    scanner.scan_many(pages[SCAN_DOCS : SCAN_DOCS + WARM_DOCS])
    first_use = time.process_time() - cpu
    pages = pages[:SCAN_DOCS]
    cpu, wall = time.process_time(), time.perf_counter()
    matched: list[bool] = []
    for start in range(0, len(pages), BATCH):
        matched += [bool(r.matches) for r in scanner.scan_many(pages[start : start + BATCH])]
    cpu_s, wall_s, scanned = time.process_time() - cpu, time.perf_counter() - wall, memory()
    # The pages without a match again, alone: what most of a pipeline's pages cost. A page
    # that quotes a work costs more with every registered work that holds the quote, and an
    # index of varied copies holds it in every copy.
    clean = [page for page, hit in zip(pages, matched, strict=True) if not hit]
    cpu = time.process_time()
    for start in range(0, len(clean), BATCH):
        scanner.scan_many(clean[start : start + BATCH])
    return {
        "load_s": load_seconds,
        "loaded": loaded,
        "first_use_cpu_s": first_use,
        "scanned": scanned,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "docs": len(pages),
        "flagged": sum(matched),
        "clean_docs": len(clean),
        "clean_cpu_s": time.process_time() - cpu,
    }


def measured(size: int, tiers: str, rescan: bool) -> dict:
    """The scanner's measurements on the size's index: kept beside it with the revision that
    made them (a scan of both tiers takes minutes), made again with ``rescan``."""
    record = index_dir(size) / f"scale-scan-{tiers}.json"
    if record.exists() and not rescan:
        return json.loads(record.read_text())
    run = run_child(
        ["-m", "benchmarks.index_scale", "--scan-one", str(size), tiers], f"{size}x {tiers} scan"
    )
    stats = run.output | {"revision": git_revision()}
    record.write_text(json.dumps(stats))
    return stats


@dataclass(frozen=True)
class DiskUse:
    tokens: int
    passages: int
    postings: int
    distinct_grams: int
    bytes: dict[str, int]


def disk_use(index: Path) -> DiskUse:
    """Bytes of every corpus file by group (``other``: passage and item tables), with the
    index's reference tokens and its distinct n-gram hashes."""
    manifest = read_manifest(index)
    groups = {name: 0 for name in (*FILE_GROUPS, "other")}
    distinct = 0
    for record in manifest.corpora:
        for file in record.files:
            group = next((g for g, names in FILE_GROUPS.items() if file.name in names), "other")
            groups[group] += file.size
        hashes = np.load(index / "corpora" / record.folder_name / "ngram_hashes.npy", mmap_mode="r")
        distinct += int(np.count_nonzero(np.diff(hashes))) + (len(hashes) > 0)
    groups["total"] = sum(groups.values())
    return DiskUse(
        tokens=sum(c.tokens for c in manifest.corpora),
        passages=sum(c.passages for c in manifest.corpora),
        postings=sum(c.ngrams for c in manifest.corpora),
        distinct_grams=distinct,
        bytes=groups,
    )


def fit(xs: Sequence[float], ys: Sequence[float], at: float) -> float:
    """A least-squares line through the points, read at ``at`` (two points: the line through
    them)."""
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(slope * at + intercept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10", help="comma-separated multiples of the books")
    parser.add_argument("--rescan", action="store_true", help="measure the scanners again")
    parser.add_argument("--build-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scan-one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_one:
        print(json.dumps(build_size(args.build_one)))
        return
    if args.scan_one:
        size, tiers = args.scan_one
        print(json.dumps(measure_scanner(index_dir(int(size)), TIERS[tiers])))
        return
    report(sorted(int(s) for s in args.sizes.split(",")), args.rescan)


@dataclass(frozen=True)
class SizeRow:
    size: int
    build: dict
    disk: DiskUse
    scans: dict[str, dict]


def report(sizes: list[int], rescan: bool) -> None:
    print(f"# index scale, revision {git_revision()}")
    print(f"# machine: {machine()}")
    print(f"# 1-minute load average at the start: {os.getloadavg()[0]:.1f}")
    rows = []
    for size in sizes:
        build = built(size)
        disk = disk_use(index_dir(size))
        scans = {name: measured(size, name, rescan) for name in TIERS}
        rows.append(SizeRow(size, build, disk, scans))
        print(f"# {size}x done: {json.dumps({'build': build, 'scans': scans})}", flush=True)
        print(f"# 1-minute load average: {os.getloadavg()[0]:.1f}", flush=True)
    print_table(rows)


def columns(row: SizeRow) -> dict[str, float]:
    d, tokens = row.disk, row.disk.tokens
    out = {
        "ref tokens (M)": tokens / 1e6,
        "passages": d.passages,
        "build s": row.build["seconds"],
        "passages/s": d.passages / row.build["seconds"],
        "build CPU s": row.build["cpu"],
        "build peak RSS MB": row.build["peak_rss_mb"],
        "distinct grams / postings": d.distinct_grams / d.postings,
    }
    for group, size in d.bytes.items():
        out[f"disk B/token {group}"] = size / tokens
    for name, scan in row.scans.items():
        out[f"{name}: load s"] = scan["load_s"]
        out[f"{name}: first 100 pages CPU s"] = scan.get("first_use_cpu_s", float("nan"))
        for when in ("loaded", "scanned"):
            for key in ("rss", "hwm", "anon"):
                out[f"{name}: {key} MB {when}"] = scan[when][key]
        out[f"{name}: records/CPU-s"] = scan["docs"] / scan["cpu_s"]
        out[f"{name}: flagged"] = scan["flagged"]
        if "clean_cpu_s" in scan:  # older scan records lack it
            matched_cpu = scan["cpu_s"] - scan["clean_cpu_s"]
            out[f"{name}: unmatched records/CPU-s"] = scan["clean_docs"] / scan["clean_cpu_s"]
            out[f"{name}: CPU ms per matched page"] = (
                1000 * matched_cpu / max(scan["docs"] - scan["clean_docs"], 1)
            )
    return out


def extrapolate(name: str, tokens: list[float], values: list[float], at: float) -> float:
    if any(np.isnan(values)):  # a column some sizes' records lack
        return float("nan")
    if name.endswith("records/CPU-s"):
        # Fit the CPU time per record (what grows with the index), then invert it; where it
        # did not grow over the sizes measured, the best rate measured stands.
        per_record = max(fit(tokens, [1 / v for v in values], at), 1 / max(values))
        return 1 / per_record
    if name.endswith(("passages/s", "flagged", "matched page")):
        return float("nan")
    if name.startswith(("disk B/token", "distinct")):
        # A ratio: fit what it is a ratio of (bytes, distinct hashes), then divide.
        return fit(tokens, [v * t for v, t in zip(values, tokens, strict=True)], at) / at
    return fit(tokens, values, at)


def print_table(rows: list[SizeRow]) -> None:
    table = [columns(r) for r in rows]
    # Every column any size has (older scan records lack the unmatched-page columns).
    names = list(dict.fromkeys(name for t in table for name in t))
    tokens = [t["ref tokens (M)"] * 1e6 for t in table]
    sizes = [r.size for r in rows]
    targets = {} if len(rows) < 2 else {"1B tokens (fit)": float(TARGET_TOKENS)}
    if len(rows) > 1 and 100 not in sizes:
        targets = {"100x (fit)": fit(sizes, tokens, 100), **targets}
    head = f"{'':34}" + "".join(f"{f'{s}x':>14}" for s in sizes)
    print(head + "".join(f"{name:>17}" for name in targets))
    fitted: dict[str, dict[str, float]] = {name: {} for name in targets}
    for name in names:
        values = [t.get(name, float("nan")) for t in table]
        line = f"{name:34}" + "".join(f"{v:>14,.2f}" for v in values)
        for target, at in targets.items():
            guess = extrapolate(name, tokens, values, at)
            fitted[target][name] = guess
            line += f"{guess:>17,.2f}"
        print(line)
    if targets:
        print(
            "# (fit): each column's least-squares line in reference tokens (through the sizes "
            "above), read at that size (records/CPU-s: the line of CPU-s per record, "
            "inverted); an extrapolation, not a measurement"
        )
    hundred = fitted.get("100x (fit)") or (table[sizes.index(100)] if 100 in sizes else None)
    if hundred:
        for tier in TIERS:
            rss = hundred[f"{tier}: rss MB loaded"]
            ratio = hundred[f"{tier}: records/CPU-s"] / table[0][f"{tier}: records/CPU-s"]
            unmatched = f"{tier}: unmatched records/CPU-s"
            clean = hundred.get(unmatched, float("nan")) / table[0].get(unmatched, float("nan"))
            print(
                f"# target at 100x, {tier}: RSS after load {rss:,.0f} MB (< 1,500: "
                f"{'yes' if rss < 1500 else 'NO'}), scan rate {ratio:.2f} of the 1x index's "
                f"(>= 0.5: {'yes' if ratio >= 0.5 else 'NO'}); pages without a match alone: "
                f"{clean:.2f}"
            )
    last = rows[-1]
    rate = last.disk.passages / last.build["seconds"]
    if 100 not in [r.size for r in rows]:
        passages = last.disk.passages * 100 / last.size
        print(
            f"# 100x: about {passages:,.0f} passages; at the {last.size}x build's "
            f"{rate:,.0f} passages/s a build of about {passages / rate / 3600:.1f} h"
        )


if __name__ == "__main__":
    main()
