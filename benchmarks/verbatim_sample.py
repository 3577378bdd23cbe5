"""A fixed sample's verbatim results, written whole, to compare two revisions byte for byte.

Issue 12 asks that making the verbatim tier faster changes no result. This writes every result
(decision, risk, every match with its spans on both sides) of a fixed sample as sorted-key JSON
lines: the 1,300 shard-scan pages (one in 50 with a planted item) against the shard-scan
index, then the verbatim quality suite's cases (100 per category, seed 0) against its index.
Run it in two checkouts (each builds its own index, with its own code) and compare the files:

    python -m benchmarks.verbatim_sample /tmp/new.jsonl
    cd /tmp/old && PYTHONPATH=$PWD CLEARANCE_DATA_DIR=../shared/data \
        python -m benchmarks.verbatim_sample /tmp/old.jsonl
    cmp /tmp/old.jsonl /tmp/new.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks._common import CACHE, cached_index, git_revision
from benchmarks.shard_scan import corpora, make_shards
from reference_corpora.catalog import data_dir
from reference_corpora.suite import SuiteData, verbatim_suite
from service.scanner import Scanner, ScanSettings

BATCH = 64


def write_results(scanner: Scanner, texts: list[str], ids: list[str], out) -> None:
    for at in range(0, len(texts), BATCH):
        for result in scanner.scan_many(texts[at : at + BATCH], ids=ids[at : at + BATCH]):
            out.write(json.dumps(result.to_dict(), sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the results (JSON lines)")
    args = parser.parse_args()

    settings = ScanSettings(tiers=("verbatim",))
    refs = corpora(data_dir(), 3000)
    shards = CACHE / "shard-scan-shards-1x8"
    make_shards(shards, data_dir(), refs, copies=1, shards=8)
    records = [
        json.loads(line)
        for path in sorted(shards.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    data = SuiteData.load()
    cases = verbatim_suite(data, 100, 100, seed=0)
    with args.out.open("w", encoding="utf-8") as out:
        scanner = Scanner.load(cached_index("shard-scan-index", refs), settings=settings)
        write_results(scanner, [r["text"] for r in records], [r["id"] for r in records], out)
        scanner = Scanner.load(
            cached_index("quality-index", data.index_corpora()), settings=settings
        )
        write_results(scanner, [c.text for c in cases], [c.doc_id for c in cases], out)
    print(f"revision {git_revision()}: {len(records) + len(cases)} results in {args.out}")


if __name__ == "__main__":
    main()
