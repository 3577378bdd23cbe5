"""Atomic index changes (``indexer.index_change``), for real: the installed ``clearance``
command is killed with SIGKILL at each step of a change (``CLEARANCE_CRASH_AT`` names it), as
the OOM killer would, and the index it leaves is loaded, scanned and verified.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.index_change import IndexBusyError, changing
from indexer.manifest import read_manifest
from indexer.takedown import remove_corpus
from indexer.verify import verify_index
from service.scanner import Scanner, ScanSettings
from tests.conftest import catalog_corpus
from tests.indexer.test_takedown import clearance, file_checksums, reported


def test_a_second_change_while_one_runs_is_refused_and_changes_nothing(tiny_index):
    manifest = (tiny_index / "manifest.json").read_bytes()
    with changing(tiny_index), pytest.raises(IndexBusyError, match="another change"):
        remove_corpus(tiny_index, "truthfulqa")
    assert (tiny_index / "manifest.json").read_bytes() == manifest
    remove_corpus(tiny_index, "truthfulqa")  # the lock went with the change that held it
    assert [c.name for c in read_manifest(tiny_index).corpora] == ["gsm8k-test"]


@pytest.fixture
def tiny_index(tmp_path, data_root) -> Path:
    out = tmp_path / "tiny"
    build_index(
        out,
        [
            catalog_corpus("gsm8k-test", data_root, limit=12),
            catalog_corpus("truthfulqa", data_root, limit=12),
        ],
    )
    return out


def _found(index: Path, text: str) -> set[str]:
    scanner = Scanner.load(index, settings=ScanSettings(tiers=("verbatim",)))
    return set(reported(scanner.scan(text)))


# Steps of a change (indexer.index_change): the new folder written (still hidden), staged
# beside the old, the old marked for removal; then the manifest commit, before the cleanup.
BEFORE_COMMIT = ("writing", "staged", "marked")
# The step just before the commit and the one just after run by default, the others with -m slow.
STEPS = [
    pytest.param(step, marks=() if step in ("marked", "committed") else pytest.mark.slow)
    for step in (*BEFORE_COMMIT, "committed")
]


@pytest.mark.parametrize("step", STEPS)
def test_a_takedown_killed_mid_way_leaves_a_usable_index(step, tiny_index, data_root, tmp_path):
    item = catalog_corpus("gsm8k-test", data_root, limit=12).items[5]
    ids = tmp_path / "ids.txt"
    ids.write_text(f"gsm8k-test\t{item.id}\n", encoding="utf-8")
    manifest = (tiny_index / "manifest.json").read_bytes()
    checksums = file_checksums(tiny_index)
    assert item.id in _found(tiny_index, item.text)

    killed = clearance("index", "remove", "--index", tiny_index, "--items", ids, crash_at=step)
    assert killed.returncode == -9, killed.stderr

    verification = verify_index(tiny_index)
    assert verification.sound, verification.problems
    if step in BEFORE_COMMIT:
        assert (tiny_index / "manifest.json").read_bytes() == manifest
        listed = {k: v for k, v in file_checksums(tiny_index).items() if k in checksums}
        assert listed == checksums  # every file the old index had, byte for byte
        assert item.id in _found(tiny_index, item.text)
    else:
        assert item.id not in _found(tiny_index, item.text)
    assert verification.leftovers  # what the kill left: noted, never read
    # The next change clears what the killed one left, and works.
    done = clearance("index", "remove", "--index", tiny_index, "--items", ids)
    assert done.returncode == 0, done.stderr
    assert item.id not in _found(tiny_index, item.text)
    after = verify_index(tiny_index)
    assert after.sound and not after.leftovers


@pytest.mark.parametrize("step", [pytest.param("writing", marks=pytest.mark.slow), "marked"])
def test_add_replace_killed_mid_way_leaves_the_old_index(step, tiny_index, data_root, tmp_path):
    refs = tmp_path / "refs.jsonl"
    items = catalog_corpus("truthfulqa", data_root, limit=20).items[12:]
    with refs.open("w", encoding="utf-8") as handle:
        for item in items:
            row = {"id": item.id, "text": item.text, "corpus": "truthfulqa", "kind": "benchmark"}
            handle.write(json.dumps(row) + "\n")
    manifest = (tiny_index / "manifest.json").read_bytes()
    checksums = file_checksums(tiny_index)

    killed = clearance(
        "index", "add", "--index", tiny_index, refs, "--replace", "--no-progress", crash_at=step
    )
    assert killed.returncode == -9, killed.stderr
    assert (tiny_index / "manifest.json").read_bytes() == manifest
    assert {k: v for k, v in file_checksums(tiny_index).items() if k in checksums} == checksums
    assert verify_index(tiny_index).sound
    assert read_manifest(tiny_index).corpus("truthfulqa").items == 12
    assert items[0].id not in _found(tiny_index, items[0].text)
