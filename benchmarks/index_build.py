"""Index build speed for reference works, side by side with a revision from before static
vectors (which embedded every passage with the transformer at build time).

Both builds index the same books from ``../shared/data/books`` in one run, one after the other,
into temporary folders. The baseline runs the older revision's own code from a git worktree,
with this virtualenv's Python.

    python -m benchmarks.index_build --books 5 --baseline-rev f66e7af
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks._common import git_revision, machine
from reference_corpora.catalog import data_dir

# What both revisions run: read the books as one copyright corpus and build an index of it.
BUILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from indexer.build import build_index
    from indexer.corpus import Corpus, CorpusKind, read_text_works
    files, out = json.loads(sys.argv[1]), Path(sys.argv[2])
    items = [read_text_works(Path(f), name="books").items[0] for f in files]
    corpus = Corpus(name="books", kind=CorpusKind.COPYRIGHT, items=items, source="books")
    started = time.perf_counter()
    manifest = build_index(out, [corpus])
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "passages": manifest.corpora[0].passages,
                      "tokens": manifest.corpora[0].tokens}))
    """
)


def build(cwd: Path, files: list[str], out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", BUILD, json.dumps(files), str(out)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"build in {cwd} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=5)
    parser.add_argument("--baseline-rev", default="f66e7af")
    args = parser.parse_args()

    books = sorted((data_dir() / "books").glob("books_*.txt"))[: args.books]
    files = [str(b) for b in books]
    root = Path(__file__).resolve().parent.parent
    print(f"# index build, {len(books)} books, revision {git_revision()}")
    print(f"# machine: {machine()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # The distilled static model is cached per machine; distil it first so that the timed
        # build is the build (distillation is once per machine, timed separately below).
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "service.cli", "model", "distill"], cwd=root, check=True
        )
        distill_seconds = time.perf_counter() - started
        rows.append(("this revision (static vectors)", build(root, files, tmp / "new")))
        if args.baseline_rev:
            worktree = tmp / "baseline"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(worktree), args.baseline_rev],
                cwd=root,
                check=True,
                capture_output=True,
            )
            try:
                rows.append(
                    (
                        f"{args.baseline_rev} (transformer vectors)",
                        build(worktree, files, tmp / "old"),
                    )
                )
            finally:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(worktree)], cwd=root, check=False
                )
    print(f"{'build':<40}{'passages':>10}{'seconds':>10}{'passages/s':>12}")
    for label, row in rows:
        rate = row["passages"] / row["seconds"]
        print(f"{label:<40}{row['passages']:>10}{row['seconds']:>10.1f}{rate:>12.1f}")
    if len(rows) == 2:
        print(f"# speed-up: {rows[1][1]['seconds'] / rows[0][1]['seconds']:.1f}x")
    print(f"# `clearance model distill` (cached once per machine): {distill_seconds:.1f} s")


if __name__ == "__main__":
    main()
