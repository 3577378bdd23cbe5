"""What the gate costs on top of a scan, and how fast it re-judges saved results.

Scans real C4 pages (the 1,000-page sample and the 300-page LLaMA-Factory demo) through
``gate()`` and through a bare ``Scanner.scan_many`` loop, then re-gates the saved results with
``--from-results`` after repeating them to ``--records`` lines, the size of a large shard set.

    python benchmarks/gate_throughput.py                       # verbatim tier, 200,000 records
    python benchmarks/gate_throughput.py --tiers verbatim,paraphrase --records 50000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks._common import cached_index, git_revision, machine
from reference_corpora.catalog import data_dir, load_corpora
from service.gate import GatePolicy, gate
from service.scanner import Scanner, ScanSettings, parse_tiers

CORPORA = ["gsm8k-test", "truthfulqa", "humaneval"]
POLICY = GatePolicy.from_dict(
    {
        "max_rejected_share": 0.01,
        "overall": {"max_flagged_share": 0.01},
        "kinds": {"benchmark": {"max_flagged_share": 0.001, "max_risk": 0.9}},
        "corpora": {"gsm8k-test": {"zero_tolerance": True}, "humaneval": {"zero_tolerance": True}},
    }
)


def web_documents(folder: Path) -> Path:
    path = folder / "web.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for name in ("c4_sample_1000.jsonl", "llamafactory_c4_demo_300.jsonl"):
            with (data_dir() / "web" / name).open(encoding="utf-8") as handle:
                for number, line in enumerate(handle):
                    text = json.loads(line)["text"]
                    out.write(json.dumps({"id": f"{name}:{number}", "text": text}) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default="verbatim")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    tiers = parse_tiers(args.tiers)

    index = cached_index("gate-index", load_corpora(CORPORA))
    scanner = Scanner.load(index, settings=ScanSettings(tiers=tiers))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        docs = web_documents(folder)
        texts = [json.loads(line) for line in docs.read_text(encoding="utf-8").splitlines()]
        saved = folder / "results.jsonl"
        bare_times, gate_times = [], []
        # Alternate the two so that neither gets the warm caches for free; keep the best run.
        for _ in range(args.repeats):
            started = time.perf_counter()
            for start in range(0, len(texts), args.batch_size):
                batch = texts[start : start + args.batch_size]
                scanner.scan_many([d["text"] for d in batch], ids=[d["id"] for d in batch])
            bare_times.append(time.perf_counter() - started)

            started = time.perf_counter()
            scanned = gate(
                [docs],
                policy=POLICY,
                scanner=scanner,
                batch_size=args.batch_size,
                results_out=saved,
            )
            gate_times.append(time.perf_counter() - started)
        bare, gated = min(bare_times), min(gate_times)

        lines = saved.read_text(encoding="utf-8").splitlines()
        big = folder / "many-results.jsonl"
        with big.open("w", encoding="utf-8") as out:
            for number in range(args.records):
                out.write(lines[number % len(lines)] + "\n")
        reread_times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            regated = gate(results=[big], policy=POLICY)
            reread_times.append(time.perf_counter() - started)
        reread = min(reread_times)

    docs_count = scanned.counts.total
    print(
        f"# gate throughput, tiers={args.tiers}, best of {args.repeats}, revision {git_revision()}"
    )
    print(f"# machine: {machine()}")
    print(f"# index: {', '.join(f'{c.name} {c.record.items}' for c in scanner.index.corpora)}")
    print(
        f"# verdict on the web pages: {'PASS' if scanned.passed else 'FAIL'} "
        f"({', '.join(r.rule for r in scanned.failures) or 'no failed rules'}); "
        f"{scanned.counts.keep} keep, {scanned.counts.review} review, "
        f"{scanned.counts.remove} remove"
    )
    print(
        f"bare scan_many:         {docs_count} docs in {bare:6.2f} s "
        f"({docs_count / bare:8.1f} docs/s)"
    )
    print(
        f"gate (scan + judge):    {docs_count} docs in {gated:6.2f} s "
        f"({docs_count / gated:8.1f} docs/s, {100 * (gated - bare) / bare:+.1f} % vs bare)"
    )
    print(
        f"gate --from-results:    {regated.counts.total} results in {reread:6.2f} s "
        f"({regated.counts.total / reread:8.0f} results/s)"
    )


if __name__ == "__main__":
    main()
