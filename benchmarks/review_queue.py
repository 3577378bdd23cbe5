"""How fast `clearance review` opens a results folder of 100,000 records, and pages through it.

Real C4 pages with real GSM8K test items hidden in them (a whole item in two pages of three,
the first twelve words in the third) are scanned for real by ``scan_shards`` (verbatim tier);
the annotated shard is then repeated into ``--records`` records over shards of ``--per-shard``
(each a copy of the real one, listed in report.json as scan-shards lists them). A real
`clearance review` server is started on the folder and its pages are fetched over HTTP:

    python -m benchmarks.review_queue                       # 100,000 records
    python -m benchmarks.review_queue --records 20000
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks._common import cached_index, git_revision, machine
from reference_corpora.catalog import data_dir, load_corpora
from service.shards import scan_shards
from service.shards.layout import write_atomic

CLEARANCE = Path(sys.executable).parent / "clearance"


def planted_pages(folder: Path, items: list[str]) -> Path:
    pages = [
        json.loads(line)["text"]
        for line in (data_dir() / "web" / "c4_sample_1000.jsonl").read_text().splitlines()
    ]
    path = folder / "inputs" / "pages.jsonl"
    path.parent.mkdir(parents=True)
    with path.open("w", encoding="utf-8") as out:
        for number, page in enumerate(pages):
            item = items[number % len(items)]
            hidden = item if number % 3 else " ".join(item.split()[:12])
            cut = len(page) // 2
            text = f"{page[:cut]}\n{hidden}\n{page[cut:]}"
            out.write(json.dumps({"id": f"c4-{number}", "text": text}) + "\n")
    return path


def repeated_folder(scanned: Path, out: Path, records: int, per_shard: int) -> dict[str, int]:
    """``scanned``'s one shard copied into shards of ``per_shard`` records, ``records`` in all."""
    lines = (scanned / "annotated" / "pages.jsonl").read_bytes().splitlines(keepends=True)
    report = json.loads((scanned / "report.json").read_text(encoding="utf-8"))
    shutil.copy(scanned / "run.json", out / "run.json")
    shards, decisions, written = [], {"keep": 0, "review": 0, "remove": 0}, 0
    while written < records:
        key = f"part-{len(shards):05d}.jsonl"
        count = min(per_shard, records - written)
        chunk = [lines[(written + i) % len(lines)] for i in range(count)]
        target = out / "annotated" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(chunk))
        shard = {"keep": 0, "review": 0, "remove": 0}
        for line in chunk:
            shard[json.loads(line)["clearance"]["decision"]] += 1
        for decision, n in shard.items():
            decisions[decision] += n
        shards.append(
            {"file": key, "done": True, "records": count, "scanned": count, "rejected": 0}
            | {"decisions": shard, "outputs": [f"annotated/{key}"]}
        )
        written += count
    totals = report["totals"] | {"shards": len(shards), "shards_done": len(shards)}
    totals |= {"records": records, "scanned": records}
    report |= {"totals": totals, "decisions": decisions, "shards": shards}
    write_atomic(out / "report.json", json.dumps(report))
    return decisions


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed_get(client: httpx.Client, path: str, repeats: int) -> tuple[float, int]:
    best, size = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        best, size = min(best, elapsed), len(response.content)
    return best, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--per-shard", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=5, help="best of this many requests")
    args = parser.parse_args()

    corpora = load_corpora(["gsm8k-test"])
    index = cached_index("review-index", corpora)
    items = [item.text for item in corpora[0].items]
    print(f"# review queue, revision {git_revision()}, {args.records:,} records")
    print(f"# machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = planted_pages(folder, items)
        scanned = scan_shards(
            [inputs], index=index, out=folder / "scanned", tiers=("verbatim",), progress=False
        ).out_dir
        results = folder / "results"
        results.mkdir()
        decisions = repeated_folder(scanned, results, args.records, args.per_shard)
        size = sum(p.stat().st_size for p in (results / "annotated").iterdir())
        print(f"# results: {decisions}, {size / 1e6:,.0f} MB of annotated JSONL")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        command = [str(CLEARANCE), "review", str(results), "--index", str(index)]
        command += ["--port", str(port)]
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                while True:
                    try:
                        first = client.get("/")
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                cold = time.perf_counter() - started
                print(f"start + index the results + first page:  {cold:7.2f} s (once per results)")
                flagged = decisions["review"] + decisions["remove"]
                last = (flagged - 1) // 50
                middle = f"part-{args.records // args.per_shard // 2:05d}.jsonl"
                pages = [
                    ("first page (pending review)", "/"),
                    ("first page, every flagged decision", "/?decision=all&status=all"),
                    ("first page, filtered by shard", f"/?decision=all&shard={middle}"),
                    (
                        f"last page (page {last + 1:,}, 50 a page)",
                        f"/?decision=all&status=all&page={last}",
                    ),
                    ("a document, side by side", "/documents/1"),
                ]
                assert first.status_code == 200
                for label, path in pages:
                    seconds, size = timed_get(client, path, args.repeats)
                    print(f"{label:40s} {seconds * 1000:7.1f} ms ({size / 1000:,.0f} kB)")
            server.terminate()
            server.wait(timeout=30)
            started = time.perf_counter()
            server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
            with httpx.Client(base_url=url, timeout=120) as client:
                while True:
                    try:
                        client.get("/").raise_for_status()
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
            warm = time.perf_counter() - started
            print(f"restart (index kept) + first page:       {warm:7.2f} s")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
