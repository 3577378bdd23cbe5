"""Index build speed for reference works: on 1..N local workers and on Ray, side by side
with a revision from before static vectors (which embedded every passage with the transformer
at build time).

Every build indexes the same books from ``../shared/data/books`` in one run, one after the
other, into temporary folders, and the builds of this revision are checked to write the same
files. The baseline runs the older revision's own code from a git worktree, with this
virtualenv's Python. ``--profile`` also prints where a one-worker build spends its time.

    python -m benchmarks.index_build --books 5 --baseline-rev f66e7af
    python -m benchmarks.index_build --books 20 --workers 1 2 --ray --baseline-rev "" --profile
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks._common import git_revision, machine, run_child
from reference_corpora.catalog import data_dir

# What both revisions run: read the books as one copyright corpus and build an index of it.
# This revision also takes the build engine (argv[3]) and can profile the build (argv[4]).
BUILD = textwrap.dedent(
    """
    import cProfile, hashlib, json, pstats, sys, time
    from pathlib import Path
    from indexer.build import build_index
    from indexer.corpus import Corpus, CorpusKind, read_text_works
    files, out = json.loads(sys.argv[1]), Path(sys.argv[2])
    items = [read_text_works(Path(f), name="books").items[0] for f in files]
    corpus = Corpus(name="books", kind=CorpusKind.COPYRIGHT, items=items, source="books")
    options = {}
    if len(sys.argv) > 3:
        from indexer.parallel_build import BuildEngine
        options["engine"] = BuildEngine(**json.loads(sys.argv[3]))
    profiler = cProfile.Profile() if len(sys.argv) > 4 and sys.argv[4] == "profile" else None
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    manifest = build_index(out, [corpus], **options)
    seconds = time.perf_counter() - started
    stages = {}
    if profiler:
        profiler.disable()
        for (_, _, name), row in pstats.Stats(profiler).stats.items():
            if name in ("build_part", "write_merged_corpus", "_filled_vector_index"):
                stages[name] = stages.get(name, 0.0) + row[3]
    files = {c.name: [f.sha256 for f in getattr(c, "files", ())] for c in manifest.corpora}
    print(json.dumps({"seconds": seconds, "passages": manifest.corpora[0].passages,
                      "tokens": manifest.corpora[0].tokens, "stages": stages,
                      "files": hashlib.sha256(json.dumps(files).encode()).hexdigest()}))
    """
)


def build(cwd: Path, files: list[str], out: Path, *extra: str) -> dict:
    """One build in a fresh process; with the CPU time of it and every process it waited for
    (its pool workers; Ray's workers only as far as Ray waits for them before it exits)."""
    run = run_child(["-c", BUILD, json.dumps(files), str(out), *extra], f"build in {cwd}", cwd)
    return run.output | {"cpu": run.cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=5)
    parser.add_argument("--baseline-rev", default="f66e7af", help='"" for none')
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="local builds")
    parser.add_argument("--ray", action="store_true", help="also build on a local Ray")
    parser.add_argument("--part-chars", type=int, default=None, help="characters per part")
    parser.add_argument("--profile", action="store_true", help="stages of the 1-worker build")
    args = parser.parse_args()

    books = sorted((data_dir() / "books").glob("books_*.txt"))[: args.books]
    files = [str(b) for b in books]
    root = Path(__file__).resolve().parent.parent
    print(f"# index build, {len(books)} books, revision {git_revision()}")
    print(f"# machine: {machine()}")
    # The cores may be shared: the load average says how busy they were around the builds.
    load_before = os.getloadavg()[0]
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
        parts = {"part_chars": args.part_chars} if args.part_chars else {}
        engines = [(f"{n} worker(s)", {"workers": n, **parts}) for n in args.workers]
        if args.ray:
            engines.append(("Ray Data, local Ray", {"kind": "ray", **parts}))
        for label, engine in engines:
            profile = "profile" if args.profile and engine.get("workers") == 1 else ""
            row = build(root, files, tmp / label.replace(" ", "_"), json.dumps(engine), profile)
            rows.append((f"this revision, {label}", row))
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
    print(f"{'build':<44}{'passages':>10}{'seconds':>10}{'passages/s':>12}{'CPU s':>8}")
    for label, row in rows:
        rate = row["passages"] / row["seconds"]
        print(
            f"{label:<44}{row['passages']:>10}{row['seconds']:>10.1f}{rate:>12.1f}"
            f"{row['cpu']:>8.1f}"
        )
    print("# seconds: the build_index call; CPU s: the whole process with its start, the")
    print("# corpus read and every worker it waited for")
    ours = [row for label, row in rows if label.startswith("this revision")]
    same = len({row["files"] for row in ours}) == 1
    print(f"# this revision's builds wrote the same files: {'yes' if same else 'NO'}")
    if args.baseline_rev:
        print(f"# speed-up over the baseline: {rows[-1][1]['seconds'] / ours[0]['seconds']:.1f}x")
    for stage, seconds in ours[0].get("stages", {}).items():
        print(f"# 1 worker, {stage}: {seconds:.2f} s ({seconds / ours[0]['seconds']:.0%})")
    print(f"# `clearance model distill` (cached once per machine): {distill_seconds:.1f} s")
    print(
        f"# 1-minute load average before / after the builds: {load_before:.1f} / "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
