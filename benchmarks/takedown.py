"""What a takedown costs next to a rebuild: one work out of a corpus of real books.

Builds (once, cached in benchmarks/.cache) an index of ``--books`` books of
``../shared/data/books`` as one copyright corpus, copies it, and on the copy times taking one
work down (``remove_items``: tombstone, hard links, commit) against rebuilding the corpus
without it (``add --replace``), with the bytes each writes, the load time before and after,
and the verbatim scan time of pages that quote indexed works.

    python -m benchmarks.takedown --books 65
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks._common import cached_index, git_revision, machine
from indexer.build import add_corpora
from indexer.corpus import Corpus, CorpusKind, read_text_works
from indexer.manifest import read_manifest
from indexer.store import ReferenceIndex, corpus_dir
from indexer.takedown import remove_items
from reference_corpora.catalog import data_dir
from reference_corpora.suite import book_passage
from service.scanner import Scanner, ScanSettings


def books(count: int) -> Corpus:
    files = sorted((data_dir() / "books").glob("books_*.txt"))[:count]
    items = [read_text_works(f, name="books").items[0] for f in files]
    return Corpus(name="books", kind=CorpusKind.COPYRIGHT, items=items, source="books")


def new_bytes(folder: Path, before: set[int]) -> int:
    """Bytes of the files under ``folder`` whose inodes were not there before (not links)."""
    return sum(
        p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.stat().st_ino not in before
    )


def inodes(folder: Path) -> set[int]:
    return {p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def scan_seconds(index: Path, pages: list[str]) -> float:
    scanner = Scanner.load(index, settings=ScanSettings(tiers=("verbatim",)))
    return timed(lambda: scanner.scan_many(pages))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--books", type=int, default=65)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    corpus = books(args.books)
    source = cached_index(f"takedown-books-{args.books}", [corpus])
    record = read_manifest(source).corpus("books")
    rng = random.Random(0)
    pages = [book_passage(rng.choice(corpus.items), rng, (60, 120)) for _ in range(args.pages)]
    gone = corpus.items[len(corpus.items) // 2]

    print(f"# takedown vs rebuild, {args.books} books, revision {git_revision()}")
    print(f"# machine: {machine()}")
    print(
        f"# corpus: {record.items} works, {record.passages} passages, {record.tokens} tokens, "
        f"{sum(f.size for f in record.files) / 1e6:.1f} MB; taking down {gone.id}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        shutil.copytree(source, index)
        load_before = min(timed(lambda: ReferenceIndex.open(index))[0] for _ in range(5))
        scan_before = scan_seconds(index, pages)
        seen = inodes(index)
        seconds, _ = timed(lambda: remove_items(index, [gone.id]))
        written = new_bytes(index, seen)
        load_after = min(timed(lambda: ReferenceIndex.open(index))[0] for _ in range(5))
        scan_after = scan_seconds(index, pages)
        seen = inodes(index)
        kept = replace(corpus, items=[i for i in corpus.items if i.id != gone.id])
        rebuild, _ = timed(lambda: add_corpora(index, [kept], replace_existing=True))
        rebuilt = new_bytes(index, seen)
        folder = corpus_dir(index, read_manifest(index).corpus("books").folder_name)
        assert folder.exists()
    print(f"{'change':34} {'seconds':>9} {'MB written':>11}")
    print(f"{'remove one work (tombstone)':34} {seconds:9.2f} {written / 1e6:11.2f}")
    print(f"{'rebuild the corpus without it':34} {rebuild:9.2f} {rebuilt / 1e6:11.2f}")
    print(
        f"# load: {load_before * 1e3:.0f} ms before, {load_after * 1e3:.0f} ms with the tombstone"
    )
    print(
        f"# verbatim scan of {args.pages} book passages: {scan_before:.2f} s before, "
        f"{scan_after:.2f} s with the tombstone"
    )


if __name__ == "__main__":
    main()
