"""What the parted-build tests share: the corpora cut into parts and how two builds compare."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# Five books of 90-370 KB (one corpus: a glob is one input) and two whole benchmark test sets
# (one prose, one code): with PART_CHARS, ten parts, four of books and five of gsm8k-test.
PARTED_BOOKS = "books/books_[34]?-0.txt"
PARTED_CATALOG = ("gsm8k-test", "humaneval")
PART_CHARS = 150_000

# What two builds of the same corpora and settings may write differently: when they ran.
# Everything else of the manifest, and every byte of every other file, must be the same.
BUILD_TIMES = ("created_at", "updated_at")
CORPUS_BUILD_TIMES = ("built_at",)


def index_content(index_dir: Path) -> dict:
    """The manifest less the build times, and the SHA-256 of every other file of the index."""
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    for key in BUILD_TIMES:
        manifest.pop(key)
    for corpus in manifest["corpora"]:
        for key in CORPUS_BUILD_TIMES:
            corpus.pop(key)
    files = {
        str(path.relative_to(index_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(index_dir.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }
    return {"manifest": manifest, "files": files}
