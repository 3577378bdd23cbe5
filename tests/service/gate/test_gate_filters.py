"""The scanner inside data tools: a Hugging Face ``datasets`` filter and a datatrove step."""

from __future__ import annotations

import gzip
import json
import pickle
from dataclasses import replace
from pathlib import Path

import datasets
import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from indexer.build import build_index
from service.gate import ClearanceFilter
from service.gate.datatrove_step import ClearanceDatatroveFilter
from tests.service.gate.conftest import hide

FLAGGED = {"c4-110", "c4-120", "c4-140"}  # review or remove, see conftest.py
REMOVED = {"c4-110", "c4-140"}


@pytest.fixture(scope="module")
def dataset(gate_docs) -> datasets.Dataset:
    return datasets.Dataset.from_list(gate_docs)


def dropped(before: datasets.Dataset, after: datasets.Dataset) -> set[str]:
    return set(before["id"]) - set(after["id"])


def test_datasets_filter_drops_flagged_documents_one_by_one_and_batched(small_index, dataset):
    keep_clean = ClearanceFilter(small_index, tiers=("verbatim",))

    assert dropped(dataset, dataset.filter(keep_clean, input_columns="text")) == FLAGGED
    batched = dataset.filter(keep_clean, input_columns="text", batched=True, batch_size=16)
    assert dropped(dataset, batched) == FLAGGED
    # Without input_columns the filter reads the example's "text" column.
    assert dropped(dataset, dataset.filter(keep_clean)) == FLAGGED


def test_datasets_filter_counts_only_remove_when_asked(small_index, dataset):
    keep_unless_removed = ClearanceFilter(small_index, flagged="remove", tiers=("verbatim",))
    kept = dataset.filter(keep_unless_removed, input_columns="text", batched=True)
    assert dropped(dataset, kept) == REMOVED


def test_datasets_filter_runs_in_worker_processes(small_index, dataset):
    keep_clean = ClearanceFilter(small_index, tiers=("verbatim",))
    keep_clean("warm up the scanner in this process")
    # The loaded scanner stays behind: what travels to workers is the description.
    assert len(pickle.dumps(keep_clean)) < 4096
    kept = dataset.filter(keep_clean, input_columns="text", batched=True, num_proc=2)
    assert dropped(dataset, kept) == FLAGGED


def test_datasets_cache_follows_the_index_content_and_the_filter_settings(
    small_corpora, web_docs, tmp_path
):
    """An index rebuilt in place is new content under the old path: never a cache hit."""
    gsm8k = small_corpora[0]
    docs = [{"id": f"c4-{i}", "text": web_docs[i]} for i in range(200, 230)]
    docs[3]["text"] = hide(docs[3]["text"], gsm8k.items[7].text)
    docs[9]["text"] = hide(docs[9]["text"], gsm8k.items[8].text)
    datasets.Dataset.from_list(docs).save_to_disk(tmp_path / "docs")
    on_disk = datasets.load_from_disk(tmp_path / "docs")  # cached on disk, as real data is
    index = tmp_path / "index"
    build_index(index, [replace(gsm8k, items=gsm8k.items[:20])])
    keep_clean = ClearanceFilter(index, tiers=("verbatim",))

    before = on_disk.filter(keep_clean, input_columns="text", batched=True)
    assert dropped(on_disk, before) == {"c4-203", "c4-209"}

    without_item_8 = [item for n, item in enumerate(gsm8k.items[:20]) if n != 8]
    build_index(index, [replace(gsm8k, items=without_item_8)], overwrite=True)
    after = on_disk.filter(keep_clean, input_columns="text", batched=True)
    assert dropped(on_disk, after) == {"c4-203"}
    assert after.cache_files != before.cache_files

    # Same index, same settings: the cache is used; other settings: it is not.
    again = on_disk.filter(ClearanceFilter(index, tiers=("verbatim",)), input_columns="text")
    assert again.cache_files == on_disk.filter(keep_clean, input_columns="text").cache_files
    removed_only = ClearanceFilter(index, flagged="remove", tiers=("verbatim",))
    other = on_disk.filter(removed_only, input_columns="text")
    assert other.cache_files != again.cache_files


def test_datasets_annotate_adds_risk_decision_and_matches(small_index, dataset):
    annotate = ClearanceFilter(small_index, tiers=("verbatim",)).annotate
    scored = dataset.map(annotate, input_columns="text", batched=True, batch_size=8)
    rows = {row["id"]: row for row in scored}

    assert rows["c4-110"]["clearance_decision"] == "remove"
    assert rows["c4-110"]["clearance_risk"] == 1.0
    top = json.loads(rows["c4-110"]["clearance_matches"])[0]
    assert top["corpus"] == "gsm8k-test" and top["kind"] == "benchmark"
    # A reported match below review stays visible: zero-tolerance users need it.
    assert rows["c4-130"]["clearance_decision"] == "keep"
    assert json.loads(rows["c4-130"]["clearance_matches"])[0]["corpus"] == "gsm8k-test"
    assert json.loads(rows["c4-100"]["clearance_matches"]) == []
    one = dataset.select([10]).map(annotate, input_columns="text")
    assert one[0]["clearance_decision"] == "remove"


def read_jsonl_gz(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle)
    return rows


def test_datatrove_pipeline_splits_clean_and_flagged(small_index, gate_docs, tmp_path):
    source = tmp_path / "raw"
    source.mkdir()
    with (source / "part-0.jsonl").open("w", encoding="utf-8") as handle:
        for doc in gate_docs:
            handle.write(json.dumps(doc) + "\n")

    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(source)),
            ClearanceDatatroveFilter(
                small_index,
                tiers=("verbatim",),
                batch_size=16,
                exclusion_writer=JsonlWriter(str(tmp_path / "flagged")),
            ),
            JsonlWriter(str(tmp_path / "clean")),
        ],
        tasks=1,
        workers=1,
        logging_dir=str(tmp_path / "logs"),
    ).run()

    clean = read_jsonl_gz(tmp_path / "clean")
    flagged = read_jsonl_gz(tmp_path / "flagged")
    assert {d["id"] for d in flagged} == FLAGGED
    assert len(clean) + len(flagged) == len(gate_docs)  # every document lands somewhere once
    reasons = {d["id"]: d["metadata"]["filter_reason"] for d in flagged}
    assert reasons == {
        "c4-110": "clearance_remove",
        "c4-120": "clearance_review",
        "c4-140": "clearance_remove",
    }
    by_id = {d["id"]: d["metadata"] for d in clean}
    assert by_id["c4-130"]["clearance_decision"] == "keep"
    assert json.loads(by_id["c4-130"]["clearance_matches"])[0]["corpus"] == "gsm8k-test"
    stats = json.loads((tmp_path / "logs" / "stats.json").read_text(encoding="utf-8"))
    step = next(s for s in stats if "Clearance" in s["name"])
    assert step["stats"]["dropped"] == 3 and step["stats"]["clearance_remove"] == 2


def test_datatrove_step_can_annotate_without_dropping(small_index, gate_docs):
    step = ClearanceDatatroveFilter(small_index, tiers=("verbatim",), drop=False, batch_size=8)
    docs = [Document(text=d["text"], id=d["id"]) for d in gate_docs]

    out = list(step.run(iter(docs)))

    assert [d.id for d in out] == [d["id"] for d in gate_docs]
    decisions = {d.id: d.metadata["clearance_decision"] for d in out}
    assert {k for k, v in decisions.items() if v != "keep"} == FLAGGED
    assert out[10].metadata["clearance_risk"] == 1.0
