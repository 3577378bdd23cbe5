"""Verbatim speed side by side with AllenAI's decon (issue 12), same documents, same references.

Documents: the real C4 pages of ``../shared/data/web`` (1,300), used ``--copies`` times, one in
50 carrying a real GSM8K test item (with its answer, as a model would see it) or a 1,200-char
book passage. References: GSM8K test, HumanEval, TruthfulQA, an MMLU-test subset and five
Gutenberg books, given to decon as its eval format (question, answer; book passages as
questions) and to Clearance as its corpora.

decon (PyPI ``decontaminate``, Python 3.12 wheels only) runs in its own venv under
``benchmarks/.cache/decon-venv``, made here with pyenv's 3.12 on first use, never in the
project's set-up. Both tools run as a fresh command on every core. Detection time: decon's own
report (its index build apart); for Clearance, the ``clearance scan`` command (prebuilt index)
less the same command on the first 64 documents, which is its fixed cost (workers starting,
the index loading, compiled kernels loading). The whole command's wall clock and the CPU time
of the process tree are given too. Found: planted documents flagged (Clearance: decision other than
keep), and clean pages flagged.

    python -m benchmarks.peer_speed                  # 3 copies: 3,900 documents, ~9 MB
    python -m benchmarks.peer_speed --copies 1 --skip-decon
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import CACHE, cached_index, git_revision, machine
from benchmarks.shard_scan import corpora
from indexer.chunking import chunk_passages
from indexer.corpus import Corpus
from indexer.normalize import tokenize
from reference_corpora.catalog import data_dir

DECON_VENV = CACHE / "decon-venv"
DECON_PYTHON_CANDIDATES = (
    Path.home() / ".pyenv/versions/3.12.1/bin/python",
    Path("/usr/bin/python3.12"),
)

# Runs inside decon's venv: detection with every core, times from decon's own summary.
DECON_DRIVER = """
import json, sys, time
import decon
config = decon.Config(training_dir=sys.argv[1], evals_dir=sys.argv[2],
                      report_output_dir=sys.argv[3], worker_threads=int(sys.argv[4]))
started = time.perf_counter()
decon.detect(config)
print("DECON-WALL", time.perf_counter() - started)
"""


@dataclass(frozen=True)
class Run:
    tool: str
    wall: float
    detect: float
    cpu: float
    flagged_planted: int
    flagged_clean: int


def make_documents(folder: Path, refs: list[Corpus], copies: int) -> tuple[Path, int, int]:
    """One JSONL of pages with planted items; returns it, its size and the planted count."""
    path = folder / f"docs-{copies}x.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    for name in ("c4_sample_1000", "llamafactory_c4_demo_300"):
        with (data_dir() / "web" / f"{name}.jsonl").open(encoding="utf-8") as handle:
            pages.extend(json.loads(line)["text"] for line in handle)
    rng = random.Random(0)
    gsm, book = refs[0].items, refs[-1].items[0].text
    planted = 0
    with path.open("w", encoding="utf-8") as out:
        for copy in range(copies):
            for n, page in enumerate(pages):
                record = {"id": f"c4-{copy}-{n}", "text": page, "planted": ""}
                if rng.random() < 0.02:
                    if rng.random() < 0.7:
                        item = rng.choice(gsm)
                        text, record["planted"] = item.text, f"gsm8k-test/{item.id}"
                    else:
                        start = rng.randrange(len(book) - 1500)
                        text, record["planted"] = book[start : start + 1200], "books"
                    cut = len(page) // 2
                    record["text"] = page[:cut] + "\n" + text + "\n" + page[cut:]
                    planted += 1
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path, path.stat().st_size, planted


def write_decon_evals(folder: Path, refs: list[Corpus]) -> int:
    """The references in decon's eval format: question (+ answer), one record per item; a
    book as its passages (the same passages Clearance indexes), each a question."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    written = 0
    for corpus in refs:
        with (folder / f"{corpus.name}.jsonl").open("w", encoding="utf-8") as out:
            for item in corpus.items:
                if corpus.kind.value == "copyright":
                    tokens = tokenize(item.text)
                    spans = [
                        tokens.char_span(p.token_start, p.token_end) for p in chunk_passages(tokens)
                    ]
                    pieces = [(item.text[a:b], "") for a, b in spans]
                else:
                    end = item.meta.get("prompt_end")
                    question = item.text[:end] if end else item.text
                    answer = item.text[end:] if end else str(item.meta.get("best_answer", ""))
                    pieces = [(question, answer.strip())]
                for question, answer in pieces:
                    record = {
                        "eval_key": corpus.name,
                        "eval_instance_index": written,
                        "doc_id": written,
                        "split": "test",
                        "question": question,
                    }
                    if answer:
                        record["answer"] = answer
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
    return written


def decon_python() -> Path:
    python = DECON_VENV / "bin" / "python"
    if python.exists():
        return python
    base = next((p for p in DECON_PYTHON_CANDIDATES if p.exists()), None)
    if base is None:
        raise SystemExit("decon needs Python 3.12 (pyenv 3.12.1); none found, use --skip-decon")
    subprocess.run([str(base), "-m", "venv", str(DECON_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "decontaminate"], check=True)
    return python


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_decon(docs: Path, evals: Path, work: Path, workers: int) -> tuple[Run, float]:
    training = work / "decon-training"
    shutil.rmtree(training, ignore_errors=True)
    training.mkdir(parents=True)
    (training / docs.name).symlink_to(docs.resolve())
    report = work / "decon-report"
    shutil.rmtree(report, ignore_errors=True)
    before = children_cpu()
    started = time.perf_counter()
    out = subprocess.run(
        [
            str(decon_python()),
            "-c",
            DECON_DRIVER,
            str(training),
            str(evals),
            str(report),
            str(workers),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.perf_counter() - started
    cpu = children_cpu() - before
    index_s = float(re.search(r"Index building time\s+([\d.]+)s", out).group(1))
    detect_s = float(re.search(r"Detection time\s+([\d.]+)s", out).group(1))
    flagged = set()
    for path in report.glob("*.jsonl"):
        with path.open(encoding="utf-8") as handle:
            flagged.update(json.loads(line)["training_line"] for line in handle)
    planted = _planted_lines(docs)
    run = Run(
        "decon 0.3.0 (decontaminate)",
        wall,
        detect_s,
        cpu,
        len(flagged & planted),
        len(flagged - planted),
    )
    return run, index_s


def run_clearance(docs: Path, index: Path, work: Path, workers: int) -> Run:
    """The whole command, and its detection time: the same command on the first batch alone
    (worker start-up, index load, compiled kernels) taken off."""
    first = work / "first-batch.jsonl"
    with docs.open(encoding="utf-8") as handle:
        first.write_text("".join(itertools.islice(handle, 64)), encoding="utf-8")
    startup, _ = _clearance_command(first, index, work, workers)
    before = children_cpu()
    wall, results = _clearance_command(docs, index, work, workers)
    cpu = children_cpu() - before
    planted = _planted_lines(docs)
    flagged = set()
    with results.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle):
            if json.loads(line)["decision"] != "keep":
                flagged.add(line_number)
    return Run(
        "clearance scan --tiers verbatim",
        wall,
        wall - startup,
        cpu,
        len(flagged & planted),
        len(flagged - planted),
    )


def _clearance_command(docs: Path, index: Path, work: Path, workers: int) -> tuple[float, Path]:
    results = work / "clearance-results.jsonl"
    command = [
        str(Path(sys.executable).parent / "clearance"),
        "scan",
        "--index",
        str(index),
        "--tiers",
        "verbatim",
        "--jsonl",
        "--workers",
        str(workers),
        "--out",
        str(results),
        str(docs),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started, results


def _planted_lines(docs: Path) -> set[int]:
    with docs.open(encoding="utf-8") as handle:
        return {n for n, line in enumerate(handle) if json.loads(line)["planted"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="times the 1,300 C4 pages are used")
    parser.add_argument("--mmlu-items", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--skip-decon", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per tool, alternating; best kept"
    )
    args = parser.parse_args()

    refs = corpora(data_dir(), args.mmlu_items)
    index = cached_index("shard-scan-index", refs)
    work = CACHE / "peer-speed"
    docs, size, planted = make_documents(work, refs, args.copies)
    count = sum(1 for _ in docs.open(encoding="utf-8"))
    evals = write_decon_evals(work / "decon-evals", refs)

    print(f"# peer speed (verbatim), revision {git_revision()}")
    print(f"# machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"# documents: {count:,} ({size / 1e6:.1f} MB), {planted} with a planted item")
    print(
        f"# references: {', '.join(f'{c.name} {len(c.items)}' for c in refs)} "
        f"(decon: {evals:,} eval records)"
    )
    best: dict[str, Run] = {}
    decon_index = None
    for _ in range(args.repeat):
        runs = [run_clearance(docs, index, work, args.workers)]
        if not args.skip_decon:
            run, decon_index = run_decon(docs, work / "decon-evals", work, args.workers)
            runs.append(run)
        for run in runs:
            if run.tool not in best or run.detect < best[run.tool].detect:
                best[run.tool] = run
    print(
        "| tool | detection s | docs/s | MB/s | command wall s | CPU s | planted found | "
        "clean flagged |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in best.values():
        print(
            f"| {run.tool} | {run.detect:.2f} | {count / run.detect:,.0f} | "
            f"{size / 1e6 / run.detect:.2f} | {run.wall:.2f} | {run.cpu:.1f} | "
            f"{run.flagged_planted}/{planted} | {run.flagged_clean} |"
        )
    if len(best) == 2:
        clearance, decon = best.values()
        print(
            f"# decon index build {decon_index:.2f} s (not counted). Clearance detection time "
            f"/ decon detection time = {clearance.detect / decon.detect:.2f} "
            f"(below 1: Clearance faster)"
        )


if __name__ == "__main__":
    main()
