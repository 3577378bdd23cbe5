"""Load test of the HTTP API: latency percentiles and throughput of `POST /v1/scan`.

Starts a real `clearance serve` on a loopback port against a real index (built here from the
catalog's benchmark corpora and two Gutenberg books unless --index is given), then sends real
C4 documents cut to 2 KB and 20 KB at concurrency 1, 8 and 32 with an async httpx client. One
document in ten has a GSM8K test item planted in it; an answer that does not flag it counts as
an error, as does any non-200. A `GET /healthz` row at each concurrency is the floor: what
HTTP, uvicorn and the client cost on this machine without any scanning.

    python -m benchmarks.api_load                 # verbatim tier; builds the index once
    python -m benchmarks.api_load --tiers verbatim,paraphrase --requests-2k 100

The client runs on the same machine as the server and takes part of the CPU; numbers are for
the pair, which is what a sidecar deployment sees.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks._common import cached_index, git_revision, machine
from indexer.corpus import Corpus, CorpusKind, read_text_works
from indexer.manifest import read_manifest
from reference_corpora.catalog import data_dir, read_catalog

BENCH_CORPORA = ("gsm8k-test", "humaneval", "truthfulqa", "math500", "openbookqa-test")
BENCH_BOOKS = ("books_11-0.txt", "books_1952-0.txt")
PLANT_EVERY = 10


def bench_index() -> Path:
    """A service-sized real index: five benchmark test sets and two books, built once."""
    root = data_dir()
    catalog = read_catalog()
    corpora = [catalog[name].load(root) for name in BENCH_CORPORA]
    books = [read_text_works(root / "books" / f, name="books").items[0] for f in BENCH_BOOKS]
    corpora.append(Corpus(name="books", kind=CorpusKind.COPYRIGHT, items=books, source="books"))
    return cached_index("api-load", corpora)


def c4_documents(size: int, count: int, gsm8k_items: list[str]) -> list[tuple[str, bool]]:
    """``count`` real C4 texts of about ``size`` UTF-8 bytes; every 10th has a GSM8K item."""
    with (data_dir() / "web" / "c4_sample_1000.jsonl").open(encoding="utf-8") as handle:
        pages = [json.loads(line)["text"] for line in handle]
    docs: list[tuple[str, bool]] = []
    cursor = 0
    while len(docs) < count:
        parts, length = [], 0
        while length < size:
            page = pages[cursor % len(pages)]
            cursor += 1
            parts.append(page)
            length += len(page.encode("utf-8")) + 1
        text = "\n".join(parts).encode("utf-8")[:size].decode("utf-8", "ignore")
        planted = len(docs) % PLANT_EVERY == PLANT_EVERY - 1
        if planted:
            item = gsm8k_items[len(docs) % len(gsm8k_items)]
            keep = max(0, size - len(item.encode("utf-8")) - 1) // 2
            text = text[:keep] + "\n" + item + "\n" + text[keep : 2 * keep]
        docs.append((text, planted))
    return docs


class Server:
    """`clearance serve` in a subprocess, logs to a file, bound to a free loopback port."""

    def __init__(self, index: Path, tiers: str, log_path: Path):
        self.key = secrets.token_urlsafe(32)
        env = {**os.environ, "CLEARANCE_API_KEYS": self.key, "CLEARANCE_TIERS": tiers}
        self.log = log_path.open("w+", encoding="utf-8")
        clearance = Path(sys.executable).parent / "clearance"
        self.process = subprocess.Popen(
            [str(clearance), "serve", "--index", str(index), "--port", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.url = self._wait_for_url()
        self._wait_ready()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.log.seek(0)
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", self.log.read())
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                raise RuntimeError("server exited; see " + self.log.name)
            time.sleep(0.1)
        raise RuntimeError("server did not start; see " + self.log.name)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            response = httpx.get(self.url + "/readyz")
            if response.status_code == 200:
                return
            if response.json().get("status") == "failed":
                raise RuntimeError(response.json()["error"])
            time.sleep(0.2)
        raise RuntimeError("server not ready; see " + self.log.name)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


async def drive(
    url: str,
    key: str,
    docs: list[tuple[str, bool]] | None,
    requests: int,
    concurrency: int,
    warm: int = 3,
) -> dict:
    """``requests`` scans of ``docs`` (or /healthz probes when None) from ``concurrency`` tasks,
    after ``warm`` of the documents are sent once unmeasured."""
    latencies: list[float] = []
    errors: list[str] = []
    next_request = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as http:
        for text, _ in (docs or [])[:warm]:  # touch caches
            await http.post("/v1/scan", json={"text": text})

        async def worker() -> None:
            nonlocal next_request
            while next_request < requests:
                started = time.perf_counter()
                if docs is None:
                    planted = False
                    next_request += 1
                    response = await http.get("/healthz")
                else:
                    text, planted = docs[next_request % len(docs)]
                    next_request += 1
                    response = await http.post("/v1/scan", json={"text": text})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                elif planted and response.json()["decision"] != "remove":
                    errors.append("planted GSM8K item not flagged")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:3],
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "throughput_rps": len(latencies) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="index to serve (default: built once, cached)")
    parser.add_argument("--tiers", default="verbatim")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--requests-2k", type=int, default=400)
    parser.add_argument("--requests-20k", type=int, default=150)
    parser.add_argument(
        "--warm-all",
        action="store_true",
        help="send every document once, unmeasured, before each row (a server that has run a "
        "while: its passage caches filled); default: three",
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    index = args.index or bench_index()
    manifest = read_manifest(index)
    gsm8k = read_catalog()["gsm8k-test"].load(data_dir())
    items = [item.text for item in gsm8k.items[:200]]
    sizes = {
        "healthz": (0, args.requests_2k),
        "2 KB": (2_000, args.requests_2k),
        "20 KB": (20_000, args.requests_20k),
    }
    log_path = Path(tempfile.gettempdir()) / "clearance-api-load.log"
    server = Server(index, args.tiers, log_path)
    load_before = os.getloadavg()
    rows = []
    try:
        for label, (size, requests) in sizes.items():
            docs = c4_documents(size, min(requests, 200), items) if size else None
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                warm = len(docs) if args.warm_all and docs else 3
                row = asyncio.run(drive(server.url, server.key, docs, requests, concurrency, warm))
                rows.append({"size": label, **row})
                print(f"  {label} c={concurrency}: p99 {row['p99_ms']:.1f} ms", file=sys.stderr)
    finally:
        server.stop()
    load_after = os.getloadavg()

    passages = sum(c.passages for c in manifest.corpora)
    print(f"machine: {machine()}; revision {git_revision()}")
    print(
        f"index: {index} ({len(manifest.corpora)} corpora, "
        f"{sum(c.items for c in manifest.corpora)} items, {passages} passages); "
        f"tiers: {args.tiers}; warm-up: {'every document' if args.warm_all else 'three documents'}"
        f"; server log: {log_path}"
    )
    print(
        f"load average (1 min) before/after, other processes included: "
        f"{load_before[0]:.2f} / {load_after[0]:.2f}"
    )
    print()
    print(
        "| request | concurrency | requests | errors | p50 ms | p95 ms | p99 ms | max ms | req/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']} | {r['concurrency']} | {r['requests']} | {r['errors']} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
            f"{r['throughput_rps']:.1f} |"
        )
    for r in rows:
        if r["error_examples"]:
            print(f"errors at {r['size']} c={r['concurrency']}: {r['error_examples']}")
    if args.json_out:
        summary = {"tiers": args.tiers, "load": [load_before[0], load_after[0]], "rows": rows}
        args.json_out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
