"""Every input surface as a user meets it: the real `clearance` command on real data.

One reader behind `scan`, `scan-shards`, `gate` and `index build`: formats told by content,
stdin, streaming in bounded memory, fsspec URLs; no silent success when nothing was scanned;
one-line errors with exit 2.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from tests.conftest import catalog_corpus

CLEARANCE = str(Path(sys.executable).with_name("clearance"))


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        [CLEARANCE, *map(str, args)],
        input=stdin,
        capture_output=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def ok(*args: str, **kwargs) -> subprocess.CompletedProcess:
    result = run(*args, **kwargs)
    assert result.returncode == 0, (
        f"clearance {' '.join(map(str, args))}:\n{result.stderr.decode()}"
    )
    return result


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """Exit 2, one line on stderr, no traceback: what every user-caused error must give."""
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    # What a terminal shows: a progress bar redrawn with "\r" leaves only its last state.
    shown = [line.rsplit("\r", 1)[-1].strip() for line in stderr.split("\n")]
    shown = [line for line in shown if line and not line.startswith("scanning")]
    assert "Traceback" not in stderr and len(shown) == 1, stderr
    return shown[0]


def rows(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def refs(data_root):
    gsm = catalog_corpus("gsm8k-test", data_root, limit=20)
    tqa = catalog_corpus("truthfulqa", data_root, limit=20)
    return gsm, tqa


@pytest.fixture(scope="module")
def json_index(tmp_path_factory, refs):
    """`clearance index build` of a refs.json holding a JSON array of records."""
    gsm, tqa = refs
    folder = tmp_path_factory.mktemp("inputs")
    records = [
        {"id": item.id, "text": item.text, "corpus": corpus.name, "kind": "benchmark"}
        for corpus in (gsm, tqa)
        for item in corpus.items
    ]
    (folder / "refs.json").write_text(json.dumps(records, indent=2), encoding="utf-8")
    index = folder / "INDEX"
    ok("index", "build", "--out", index, folder / "refs.json", "--no-progress")
    return index


@pytest.fixture(scope="module")
def pages(web_docs, refs):
    """60 real C4 pages; page 3 holds a GSM8K item, page 7 a TruthfulQA question."""
    gsm, tqa = refs
    docs = [{"id": f"c4-{i}", "text": web_docs[i], "url": f"https://c4/{i}"} for i in range(60)]
    docs[3]["text"] = web_docs[3][:400] + "\n" + gsm.items[2].text + "\n" + web_docs[3][400:]
    docs[7]["text"] = web_docs[7] + "\n" + tqa.items[5].text
    return docs


def jsonl_bytes(docs) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in docs)


def flagged(results: list[dict]) -> dict[str, str]:
    return {r["id"]: r["decision"] for r in results if r["decision"] not in ("keep", None)}


def test_index_build_reads_refs_json_and_parquet_as_records(json_index, refs, tmp_path):
    manifest = json.loads(ok("index", "info", json_index, "--json").stdout)
    assert [(c["name"], c["items"]) for c in manifest["corpora"]] == [
        ("gsm8k-test", 20),
        ("truthfulqa", 20),
    ]
    gsm, _ = refs
    table = tmp_path / "refs.parquet"  # no corpus or kind: --name and --kind give them
    pq.write_table(pa.Table.from_pylist([{"id": i.id, "text": i.text} for i in gsm.items]), table)
    index = tmp_path / "PQ"
    ok(
        "index",
        "build",
        "--out",
        index,
        table,
        "--name",
        "gsm-pq",
        "--kind",
        "benchmark",
        "--no-progress",
    )
    (corpus,) = json.loads(ok("index", "info", index, "--json").stdout)["corpora"]
    assert (corpus["name"], corpus["kind"], corpus["items"]) == ("gsm-pq", "benchmark", 20)
    missing = run("index", "build", "--out", tmp_path / "X", table, "--no-progress")
    assert "missing field 'corpus' (or name the corpus: --name)" in one_line_error(missing)


def test_scan_reads_json_lines_parquet_and_zstd_by_content(json_index, pages, tmp_path):
    as_json = tmp_path / "docs.json"  # JSON lines under a .json name
    as_json.write_bytes(jsonl_bytes(pages))
    table = tmp_path / "docs.parquet"
    pq.write_table(pa.Table.from_pylist(pages), table)
    zst = tmp_path / "docs.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(jsonl_bytes(pages)))
    for path in (as_json, table, zst):
        out = ok("scan", "--index", json_index, "--tiers", "verbatim", path).stdout
        results = rows(out)
        assert [r["id"] for r in results] == [p["id"] for p in pages], path.name
        assert flagged(results) == {"c4-3": "remove", "c4-7": "remove"}, path.name


def test_jsonl_on_stdin_is_recognised_without_a_flag(json_index, pages):
    out = ok("scan", "--index", json_index, "--tiers", "verbatim", stdin=jsonl_bytes(pages[:10]))
    results = rows(out.stdout)
    assert len(results) == 10 and flagged(results) == {"c4-3": "remove", "c4-7": "remove"}
    text = ok("scan", "--index", json_index, "--tiers", "verbatim", stdin=pages[3]["text"].encode())
    (result,) = rows(text.stdout)
    assert (result["id"], result["decision"]) == ("stdin", "remove")


def test_results_flow_while_the_input_is_still_being_read(json_index, pages):
    scan = subprocess.Popen(
        [CLEARANCE, "scan", "--index", json_index, "--tiers", "verbatim", "--batch-size", "4"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        scan.stdin.write(jsonl_bytes(pages[:4]))
        scan.stdin.flush()
        first = json.loads(scan.stdout.readline())  # stdin is still open: no EOF yet
        assert first["id"] == "c4-0" and scan.poll() is None
        scan.stdin.write(jsonl_bytes(pages[4:8]))
        scan.stdin.close()
        rest = rows(scan.stdout.read())
        assert [r["id"] for r in rest] == [f"c4-{i}" for i in range(1, 8)]
        assert scan.wait(timeout=60) == 0
    finally:
        scan.kill()


def _peak_rss_mib(*args: str | Path) -> float:
    """Peak RSS of `clearance ARGS`, measured in a fresh process so no other child counts."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "assert done.returncode == 0\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, CLEARANCE, *map(str, args)],
        capture_output=True,
        check=True,
        timeout=600,
    )
    return int(out.stdout) / 1024


def test_scan_memory_does_not_grow_with_the_input(json_index, web_docs, tmp_path):
    # Records with a short text and a large real-text field: cheap to scan, heavy to hold.
    def write(path: Path, count: int) -> None:
        with path.open("wb") as handle:
            for i in range(count):
                body = web_docs[i % 1000]
                record = {"id": i, "text": body[:200], "page": body + web_docs[(i + 1) % 1000]}
                handle.write(json.dumps(record).encode() + b"\n")

    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write(small, 500)
    write(large, 20_000)
    assert large.stat().st_size > 80 << 20
    args = ("scan", "--index", json_index, "--tiers", "verbatim", "--out", tmp_path / "r.jsonl")
    base = _peak_rss_mib(*args, small)
    grown = _peak_rss_mib(*args, large)
    assert grown - base < 40, f"{base:.0f} MiB for 1 MB, {grown:.0f} MiB for 80+ MB"
    assert sum(1 for _ in (tmp_path / "r.jsonl").open()) == 20_000


def test_a_wrong_text_field_fails_every_command_naming_the_fields(json_index, pages, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(jsonl_bytes(pages[:12]))
    scan = run(
        "scan",
        "--index",
        json_index,
        "--tiers",
        "verbatim",
        "--text-field",
        "content",
        docs,
        "--out",
        tmp_path / "r.jsonl",
    )
    message = one_line_error(scan)
    assert "all 12 records were rejected (12 missing_text)" in message
    assert "field 'content'" in message and "'id', 'text', 'url'" in message
    assert len(rows((tmp_path / "r.jsonl").read_bytes())) == 12  # every record still has a line
    shards = run(
        "scan-shards",
        "--index",
        json_index,
        "--tiers",
        "verbatim",
        "--no-progress",
        "--text-field",
        "content",
        "--out",
        tmp_path / "out",
        docs,
    )
    assert shards.returncode == 2 and "field 'content'" in shards.stderr.decode()
    assert "'id', 'text', 'url'" in shards.stderr.decode()
    policy = tmp_path / "gate.toml"
    policy.write_text("max_rejected_share = 1.0\n")
    gate = run(
        "gate",
        "--index",
        json_index,
        "--policy",
        policy,
        "--tiers",
        "verbatim",
        "--text-field",
        "content",
        "--report",
        tmp_path / "g.json",
        docs,
    )
    assert "field 'content'" in one_line_error(gate)
    # A share the user sets: 2 of 13 rejected is more than 10%.
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(jsonl_bytes(pages[:11]) + b'{"body": 1}\n{broken\n')
    strict = run(
        "scan", "--index", json_index, "--tiers", "verbatim", mixed, "--max-rejected-share", "0.1"
    )
    assert "2 of 13 records were rejected" in strict.stderr.decode() and strict.returncode == 2
    ok("scan", "--index", json_index, "--tiers", "verbatim", mixed, "--max-rejected-share", "0.2")


def test_scan_policy_file_and_min_report_risk(json_index, refs, web_docs, tmp_path):
    gsm, _ = refs
    item = gsm.items[4]
    question = item.text[: item.meta.get("prompt_end", len(item.text))]
    page = tmp_path / "page.txt"  # half of a GSM8K question in a real page: a partial copy
    page.write_text(web_docs[11] + "\n" + question[: len(question) // 2] + "\n" + web_docs[12])
    base = ["scan", "--index", json_index, "--tiers", "verbatim", page]
    (default,) = rows(ok(*base).stdout)
    risk = default["risk"]
    assert 0.2 < risk < 0.99 and default["matches"], default
    strict = tmp_path / "policy.toml"  # the same overrides CLEARANCE_POLICY gives `serve`
    strict.write_text(f"[benchmark]\nreview_at = {risk + 0.005:.4f}\nremove_at = 0.999\n")
    (relaxed,) = rows(ok(*base, "--policy", strict).stdout)
    assert (relaxed["decision"], relaxed["risk"]) == ("keep", risk) and relaxed["matches"]
    loose = {"benchmark": {"review_at": round(risk - 0.02, 4), "remove_at": round(risk - 0.01, 4)}}
    (tmp_path / "loose.json").write_text(json.dumps(loose))
    (tmp_path / "loose.yaml").write_text(_yaml(loose))
    for name in ("loose.json", "loose.yaml"):
        (tight,) = rows(ok(*base, "--policy", tmp_path / name).stdout)
        assert tight["decision"] == "remove", name
    (quiet,) = rows(ok(*base, "--min-report-risk", f"{min(risk + 0.01, 1):.4f}").stdout)
    assert quiet["matches"] == [] and quiet["decision"] == "keep"
    bad = tmp_path / "bad.toml"
    bad.write_text("[benchmark]\nreview_at = 'high'\n")
    assert "review_at must be a float" in one_line_error(run(*base, "--policy", bad))


def _yaml(policy: dict) -> str:
    return "".join(
        f"{kind}:\n" + "".join(f"  {k}: {v}\n" for k, v in values.items())
        for kind, values in policy.items()
    )


def test_clearance_index_is_honoured_by_every_command(json_index, pages, tmp_path):
    env = {"CLEARANCE_INDEX": str(json_index)}
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(jsonl_bytes(pages[:8]))
    assert "gsm8k-test" in ok("index", "info", env=env).stdout.decode()
    assert flagged(rows(ok("scan", "--tiers", "verbatim", docs, env=env).stdout)) == {
        "c4-3": "remove",
        "c4-7": "remove",
    }
    ok(
        "scan-shards",
        "--tiers",
        "verbatim",
        "--no-progress",
        "--out",
        tmp_path / "o",
        docs,
        env=env,
    )
    policy = tmp_path / "gate.toml"
    policy.write_text("[overall]\nmax_flagged_share = 0.5\n")
    ok(
        "gate",
        "--policy",
        policy,
        "--tiers",
        "verbatim",
        "--report",
        tmp_path / "g.json",
        docs,
        env=env,
    )
    copy = tmp_path / "copy"
    shutil.copytree(json_index, copy)  # the module's index stays as it is
    refs = tmp_path / "more.jsonl"
    refs.write_text(json.dumps({"id": "w", "text": pages[20]["text"]}) + "\n")
    env = {"CLEARANCE_INDEX": str(copy)}
    ok("index", "add", refs, "--name", "web", "--kind", "copyright", "--no-progress", env=env)
    added = json.loads(ok("index", "info", "--json", env=env).stdout)["corpora"]
    assert [(c["name"], c["kind"]) for c in added][2] == ("web", "copyright")


def test_version_progress_units_and_explain_width(json_index, pages, refs, tmp_path):
    from importlib.metadata import version

    assert ok("--version").stdout.decode().strip() == f"clearance {version('clearance')}"
    gsm, _ = refs
    small = tmp_path / "small.jsonl"
    small.write_text(
        "".join(
            json.dumps({"id": i.id, "text": i.text, "corpus": "g", "kind": "benchmark"}) + "\n"
            for i in gsm.items[:5]
        )
    )
    built = ok("index", "build", "--out", tmp_path / "I", small).stderr.decode()
    assert "items/s" in built and "passages/s" in built
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(jsonl_bytes(pages[:40]))
    scanned = ok(
        "scan", "--index", json_index, "--tiers", "verbatim", docs, "--out", tmp_path / "r.jsonl"
    ).stderr.decode()
    assert "B/s" in scanned and "documents/s" in scanned and "100%" in scanned  # with an ETA
    explained = ok("scan", "--index", json_index, "--tiers", "verbatim", docs, "--explain")
    lines = explained.stdout.decode().splitlines()
    header = next(line for line in lines if line.startswith("c4-3: REMOVE"))
    evidence = next(line for line in lines if "verbatim: doc [" in line)
    assert any(len(line) > 100 for line in lines)  # piped, yet not cut at 80 columns
    assert "similarity" in evidence and "chars" in header


def test_scan_shards_rejects_keep_the_shard_name(json_index, pages, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "part-0000.jsonl").write_bytes(jsonl_bytes(pages[:5]) + b"{broken\n")
    (folder / "part-0001.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(pages[5:9]) + b"[1]\n"))
    out = tmp_path / "out"
    ok(
        "scan-shards",
        "--index",
        json_index,
        "--tiers",
        "verbatim",
        "--no-progress",
        "--out",
        out,
        folder,
    )
    assert sorted(p.name for p in (out / "rejects").iterdir()) == [
        "part-0000.jsonl",
        "part-0001.jsonl.gz",
    ]
    (reject,) = rows((out / "rejects" / "part-0000.jsonl").read_bytes())
    assert (reject["source"]["line"], reject["reason_kind"]) == (6, "malformed_json")
    (reject,) = rows(gzip.decompress((out / "rejects" / "part-0001.jsonl.gz").read_bytes()))
    assert reject["reason_kind"] == "not_an_object"


def test_user_errors_are_one_line_and_exit_2(json_index, pages, tmp_path):
    scan = ["scan", "--index", json_index, "--tiers", "verbatim"]
    assert "missing.jsonl: does not exist" in one_line_error(run(*scan, tmp_path / "missing.jsonl"))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(pages[:3])[:-30])
    assert "broken.json: malformed JSON in element 2" in one_line_error(
        run(*scan, broken, "--out", tmp_path / "r.jsonl")
    )
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(jsonl_bytes(pages))[:3000])
    assert "cut.jsonl.gz: cannot read to the end" in one_line_error(run(*scan, cut))
    no_index = run("scan", "--index", tmp_path / "nope", "--tiers", "verbatim", cut)
    assert "not a Clearance index" in one_line_error(no_index)
    refs = tmp_path / "refs.json"
    refs.write_text('[{"id": "1", "text": "x", "corpus": "c", "kind": "benchmark"},')
    built = run("index", "build", "--out", tmp_path / "I", refs, "--no-progress")
    assert "refs.json: malformed JSON" in one_line_error(built)
    unknown = run(*scan, "nosuchproto://bucket/x.jsonl")
    assert "nosuchproto" in one_line_error(unknown)


def test_file_urls_go_through_fsspec(json_index, pages, tmp_path):
    docs = tmp_path / "docs.jsonl.gz"
    docs.write_bytes(gzip.compress(jsonl_bytes(pages[:8])))
    results = rows(
        ok("scan", "--index", json_index, "--tiers", "verbatim", f"file://{docs}").stdout
    )
    assert [r["id"] for r in results] == [f"c4-{i}" for i in range(8)]
    assert flagged(results) == {"c4-3": "remove", "c4-7": "remove"}


def test_scan_on_every_core_writes_what_one_process_writes_in_input_order(
    json_index, pages, tmp_path
):
    """`--workers 2` spawns two scanners; the output is line for line the one-process output
    (the bad records' rejects included, each in its place) with both planted items flagged."""
    docs = [*pages[:30], {"id": "no-text"}, *pages[30:]]
    source = tmp_path / "pages.jsonl"
    source.write_bytes(jsonl_bytes(docs) + b"{not json\n")
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.jsonl"
        ok(
            "scan",
            source,
            "--index",
            json_index,
            "--tiers",
            "verbatim",
            "--batch-size",
            "4",
            "--workers",
            workers,
            "--out",
            out,
        )
        outputs[workers] = out.read_text(encoding="utf-8")
    assert outputs["1"] == outputs["2"]
    results = rows(outputs["2"].encode())
    assert len(results) == len(docs) + 1
    assert [r["id"] for r in results[:30]] == [d["id"] for d in pages[:30]]
    assert results[30]["decision"] is None and results[-1]["decision"] is None
    assert set(flagged(results)) == {"c4-3", "c4-7"}


def test_scan_with_workers_refuses_a_missing_index_in_one_line(pages, tmp_path):
    source = tmp_path / "pages.jsonl"
    source.write_bytes(jsonl_bytes(pages[:4]))
    result = run("scan", source, "--index", tmp_path / "nowhere", "--workers", "2")
    assert "nowhere" in one_line_error(result)


def test_workers_default_to_every_core_only_for_large_inputs():
    from service.scan_pool import PARALLEL_MIN_BYTES, auto_workers

    assert auto_workers(None) == 1 and auto_workers(PARALLEL_MIN_BYTES - 1) == 1
    assert auto_workers(PARALLEL_MIN_BYTES) == (os.cpu_count() or 1)
