"""A damaged index is refused, never served: every kind of damage seen in the field, for real.

Each case copies a real index (the small index of tests/conftest.py), damages one file
the way disks, copies and hand edits do, and runs the installed ``clearance`` command on it.
The load check (sizes, structure, JSON: no hashing) must refuse what it can see with one line
naming the file and exit 2; ``clearance index verify`` (every file's SHA-256) must catch all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from indexer.manifest import read_manifest
from indexer.store import corpus_dir
from tests.conftest import catalog_corpus

CLEARANCE = str(Path(sys.executable).with_name("clearance"))
DAMAGED = "gsm8k-test"


def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLEARANCE, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def pristine_index(small_index) -> Path:
    return small_index


@pytest.fixture(scope="module")
def page(tmp_path_factory, small_corpora, web_docs) -> Path:
    """A C4 page with a whole GSM8K test item inside: the pristine index removes it."""
    item = small_corpora[0].items[12].text
    path = tmp_path_factory.mktemp("page") / "page.txt"
    path.write_text(web_docs[3][:400] + "\n" + item + "\n" + web_docs[3][400:], encoding="utf-8")
    return path


def npy_data_offset(path: Path) -> int:
    with path.open("rb") as handle:
        np.lib.format.read_magic(handle)
        np.lib.format.read_array_header_1_0(handle)
        return handle.tell()


def flip_4kb(path: Path) -> None:
    """Invert 4 KB of the array's values (its .npy header intact), as a bad sector would."""
    data = bytearray(path.read_bytes())
    start = npy_data_offset(path)
    end = min(start + 4096, len(data))
    data[start:end] = bytes(b ^ 0xFF for b in data[start:end])
    path.write_bytes(bytes(data))


def flip_middle_4kb(path: Path) -> None:
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    data[start : start + 4096] = bytes(b ^ 0xFF for b in data[start : start + 4096])
    path.write_bytes(bytes(data))


def zero_values(path: Path) -> None:
    data = bytearray(path.read_bytes())
    start = npy_data_offset(path)
    data[start:] = bytes(len(data) - start)
    path.write_bytes(bytes(data))


def cut(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def drop_last_lines(path: Path, count: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-count]), encoding="utf-8")


def edit_manifest(index: Path, edit: Callable[[dict], None]) -> None:
    path = index / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


@dataclass(frozen=True)
class Damage:
    """What to damage (a file of the damaged corpus, or the manifest), how, and whether its size
    or structure shows it (so the load check must refuse it) or only its checksum does."""

    file: str
    apply: Callable[[Path], None]
    shows_without_checksum: bool = True

    def path(self, index: Path) -> Path:
        if self.file == "manifest.json" or self.file.startswith("static_model/"):
            return index / self.file
        return corpus_dir(index, DAMAGED) / self.file


def _in_manifest(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda path: edit_manifest(path.parent, edit)


DAMAGES = {
    "ngram_hashes zeroed": Damage("ngram_hashes.npy", zero_values, shows_without_checksum=False),
    "item_stats 4 KB flipped": Damage("item_stats.npy", flip_4kb),
    "text_offsets 4 KB flipped": Damage("text_offsets.npy", flip_4kb),
    "texts.bin cut in half": Damage("texts.bin", lambda p: cut(p, 0.5)),
    "corpora set to {}": Damage("manifest.json", _in_manifest(lambda m: m.update(corpora={}))),
    "corpora removed": Damage("manifest.json", _in_manifest(lambda m: m.pop("corpora"))),
    "a corpus's items key removed": Damage(
        "manifest.json", _in_manifest(lambda m: m["corpora"][0].pop("items"))
    ),
    "unknown settings key": Damage(
        "manifest.json", _in_manifest(lambda m: m["settings"]["ngrams"].update(skip=2))
    ),
    "unknown settings section": Damage(
        "manifest.json", _in_manifest(lambda m: m["settings"].update(stemming={"on": True}))
    ),
    "items.jsonl short by 100 lines": Damage("items.jsonl", lambda p: drop_last_lines(p, 100)),
    "static.faiss truncated": Damage("static.faiss", lambda p: cut(p, 0.6)),
    "static.faiss empty": Damage("static.faiss", lambda p: cut(p, 0.0)),
    "manifest.json truncated": Damage("manifest.json", lambda p: cut(p, 0.5)),
    # The index's copy of its static model: read only by the paraphrase tier, which checks it.
    "static model weights 4 KB flipped": Damage(
        "static_model/model.safetensors", flip_middle_4kb, shows_without_checksum=False
    ),
}


def damaged_copy(pristine: Path, tmp_path: Path, damage: Damage) -> tuple[Path, Path]:
    index = tmp_path / "index"
    shutil.copytree(pristine, index)
    path = damage.path(index)
    damage.apply(path)
    return index, path


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


def test_the_pristine_index_scans_and_verifies(pristine_index, page):
    scanned = run("scan", page, "--index", pristine_index, "--tiers", "verbatim")
    assert scanned.returncode == 0, scanned.stderr
    assert json.loads(scanned.stdout)["decision"] == "remove"
    verified = run("index", "verify", pristine_index)
    assert verified.returncode == 0, verified.stderr
    assert "sound" in verified.stdout


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_index_is_refused_with_one_line_naming_the_file(
    kind, pristine_index, page, tmp_path
):
    damage = DAMAGES[kind]
    index, damaged = damaged_copy(pristine_index, tmp_path, damage)

    scanned = run("scan", page, "--index", index, "--tiers", "verbatim")
    if damage.shows_without_checksum:
        assert scanned.returncode == 2, (kind, scanned.returncode, scanned.stderr)
        assert str(damaged) in one_error_line(scanned.stderr), kind

    verified = run("index", "verify", index)
    assert verified.returncode == 1, (kind, verified.returncode, verified.stdout, verified.stderr)
    # The static model is checked as a whole (its weights' checksum): the folder is named.
    named = damaged.parent if damage.file.startswith("static_model/") else damaged
    assert str(named) in verified.stdout, (kind, verified.stdout)
    assert "Traceback" not in verified.stderr


def test_the_manifest_lists_every_file_of_every_corpus_with_size_and_sha256(pristine_index):
    manifest = read_manifest(pristine_index)
    for record in manifest.corpora:
        folder = corpus_dir(pristine_index, record.name)
        on_disk = sorted(p.name for p in folder.iterdir())
        assert [f.name for f in record.files] == on_disk
        for listed in record.files:
            data = (folder / listed.name).read_bytes()
            assert listed.size == len(data)
            assert listed.sha256 == hashlib.sha256(data).hexdigest()


def test_verify_reports_files_the_build_did_not_write_and_unlisted_corpora(
    pristine_index, page, tmp_path
):
    index = tmp_path / "index"
    shutil.copytree(pristine_index, index)
    stray = corpus_dir(index, DAMAGED) / "notes.txt"
    stray.write_text("left here by hand", encoding="utf-8")
    orphan = corpus_dir(index, "truthfulqa").with_name("old-corpus")
    shutil.copytree(corpus_dir(index, "truthfulqa"), orphan)  # as a hand-cut manifest leaves

    scanned = run("scan", page, "--index", index, "--tiers", "verbatim")
    assert scanned.returncode == 2 and str(orphan) in one_error_line(scanned.stderr)
    verified = run("index", "verify", index)
    assert verified.returncode == 1
    assert str(stray) in verified.stdout and str(orphan) in verified.stdout


def test_index_build_and_add_verify_what_they_wrote(data_root, tmp_path):
    refs = tmp_path / "refs.jsonl"
    items = catalog_corpus("truthfulqa", data_root, limit=8).items
    with refs.open("w", encoding="utf-8") as handle:
        for item in items:
            row = {"id": item.id, "text": item.text, "corpus": "tqa", "kind": "benchmark"}
            handle.write(json.dumps(row) + "\n")
    index = tmp_path / "index"
    built = run("index", "build", "--out", index, refs, "--no-progress")
    assert built.returncode == 0, built.stderr
    assert "verified" in built.stderr and "SHA-256" in built.stderr

    works = tmp_path / "works"
    works.mkdir()
    book = (data_root / "books" / "books_11-0.txt").read_text(encoding="utf-8")
    (works / "alice.txt").write_text(book[20_000:26_000], encoding="utf-8")
    added = run("index", "add", "--index", index, works, "--name", "alice", "--no-progress")
    assert added.returncode == 0, added.stderr
    assert "verified" in added.stderr
    assert [c.name for c in read_manifest(index).corpora] == ["tqa", "alice"]


def test_scan_shards_and_gate_refuse_a_damaged_index_before_scanning(
    pristine_index, page, tmp_path
):
    index, damaged = damaged_copy(pristine_index, tmp_path, DAMAGES["texts.bin cut in half"])
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "p", "text": page.read_text()}) + "\n", encoding="utf-8")
    out = tmp_path / "out"

    shards = run(
        "scan-shards", "--index", index, "--out", out, docs, "--tiers", "verbatim", "--no-progress"
    )
    assert shards.returncode == 2, shards.stderr
    assert str(damaged) in one_error_line(shards.stderr)
    assert not (out / "_done").exists()

    policy = tmp_path / "gate.toml"
    policy.write_text("[overall]\nmax_flagged_share = 0.0\n", encoding="utf-8")
    gate = run("gate", "--index", index, "--policy", policy, "--tiers", "verbatim", docs)
    assert gate.returncode == 2, gate.stderr
    assert str(damaged) in one_error_line(gate.stderr)
