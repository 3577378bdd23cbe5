"""Shard-scan throughput (issue 5): records/s and MB/s of ``scan-shards`` on real C4 shards.

The index holds real corpora (GSM8K test, HumanEval, TruthfulQA, an MMLU-test subset, five
Gutenberg books). The shards are the real C4 files (1,300 pages), copied ``--copies`` times and
cut into ``--shards`` JSONL shards, with one page in 50 carrying a real GSM8K item or book
passage so that matches, alignment and writing all cost what they cost in a real scan. Times
are wall clock for the whole ``scan_shards`` call (worker start and index load included), so
they are what a user waits for. The machine may be shared, so the table also gives the workers'
CPU time on the shards (from the done markers) and throughput per CPU-second, which other
processes do not skew; the load average says how busy the machine was.

    python -m benchmarks.shard_scan                                   # all three runs
    python -m benchmarks.shard_scan --runs local-verbatim,ray-verbatim --copies 2
    python -m benchmarks.shard_scan --runs local-both                 # needs the verifier model
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks._common import CACHE, cached_index, git_revision, machine
from indexer.corpus import Corpus, CorpusKind, read_text_works
from reference_corpora.catalog import data_dir, read_catalog
from service.shards import scan_shards

BOOKS = ("books_11-0.txt", "books_1952-0.txt", "books_46-0.txt", "books_43-0.txt", "books_35-0.txt")
RUNS = {
    "local-verbatim": ("local", ("verbatim",)),
    "local-both": ("local", ("verbatim", "paraphrase")),
    "ray-verbatim": ("ray", ("verbatim",)),
}


def corpora(root: Path, mmlu_items: int) -> list[Corpus]:
    catalog = read_catalog()
    found = [catalog[name].load(root) for name in ("gsm8k-test", "humaneval", "truthfulqa")]
    mmlu = catalog["mmlu-test"].load(root)
    mmlu.items = mmlu.items[:mmlu_items]
    books = [
        read_text_works(root / "books" / name, name="books").items[0]
        for name in BOOKS
        if (root / "books" / name).exists()
    ]
    return [*found, mmlu, Corpus("books", CorpusKind.COPYRIGHT, books, source="gutenberg")]


def make_shards(folder: Path, root: Path, refs: list[Corpus], copies: int, shards: int) -> int:
    """Write the shards (once per setting) and return their total size in bytes."""
    if folder.exists() and (folder / "done").exists():
        return sum(p.stat().st_size for p in folder.glob("*.jsonl"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pages = []
    for name in ("c4_sample_1000", "llamafactory_c4_demo_300"):
        with (root / "web" / f"{name}.jsonl").open(encoding="utf-8") as handle:
            pages.extend(json.loads(line)["text"] for line in handle)
    rng = random.Random(0)
    gsm, book = refs[0].items, refs[-1].items[0].text
    records = []
    for copy in range(copies):
        for n, page in enumerate(pages):
            if rng.random() < 0.02:
                planted = (
                    rng.choice(gsm).text
                    if rng.random() < 0.7
                    else book[(s := rng.randrange(len(book) - 1500)) : s + 1200]
                )
                cut = len(page) // 2
                page = page[:cut] + "\n" + planted + "\n" + page[cut:]
            records.append({"id": f"c4-{copy}-{n}", "text": page})
    per_shard = -(-len(records) // shards)
    for number in range(shards):
        chunk = records[number * per_shard : (number + 1) * per_shard]
        with (folder / f"part-{number:03d}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in chunk)
    (folder / "done").touch()
    return sum(p.stat().st_size for p in folder.glob("*.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", default=",".join(RUNS), help=f"comma-separated: {', '.join(RUNS)}"
    )
    parser.add_argument("--copies", type=int, default=4, help="times the 1,300 C4 pages are used")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--mmlu-items", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    args = parser.parse_args()

    root = data_dir()
    refs = corpora(root, args.mmlu_items)
    index = cached_index("shard-scan-index", refs)
    inputs = CACHE / f"shard-scan-shards-{args.copies}x{args.shards}"
    size = make_shards(inputs, root, refs, args.copies, args.shards)

    print(f"# shard scan, revision {git_revision()}")
    print(f"# machine: {machine()}")
    print(f"# index: {', '.join(f'{c.name} {len(c.items)}' for c in refs)}")
    print(f"# input: {args.shards} JSONL shards, {size / 1e6:.1f} MB")
    print(
        "| run | workers | records | wall s | records/s | MB/s | worker CPU s | records per "
        "CPU-s | MB per CPU-s | keep/review/remove | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.runs.split(","):
        engine, tiers = RUNS[name]
        out = Path(tempfile.mkdtemp(prefix=f"shard-scan-{name}-"))
        try:
            started = time.perf_counter()
            result = scan_shards(
                [inputs],
                index=index,
                out=out / "out",
                tiers=tiers,
                engine=engine,
                workers=args.workers,
                progress=False,
            )
            wall = time.perf_counter() - started
        finally:
            shutil.rmtree(out, ignore_errors=True)
        totals, d = result.report["totals"], result.report["decisions"]
        workers = args.workers or os.cpu_count()
        cpu = totals["cpu_seconds"]
        print(
            f"| {name} | {workers} | {totals['records']:,} | {wall:.1f} | "
            f"{totals['records'] / wall:,.1f} | {size / 1e6 / wall:.2f} | {cpu:.1f} | "
            f"{totals['records'] / cpu:,.1f} | {size / 1e6 / cpu:.2f} | "
            f"{d['keep']}/{d['review']}/{d['remove']} | {os.getloadavg()[0]:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
