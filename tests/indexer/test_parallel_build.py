"""The build in parts: on a process pool, and killed part-way then run again (real corpora,
real static model, a real ``clearance index build`` process killed with SIGKILL)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.build_parts import cut_parts
from indexer.build_work import PartsFolder
from indexer.chunking import ChunkingSettings
from indexer.corpus import Corpus, CorpusKind, ReferenceItem
from indexer.manifest import ClearanceIndexError, IndexSettings
from indexer.parallel_build import BuildEngine
from indexer.vector_index import VectorSettings
from tests.indexer.build_helpers import PART_CHARS, index_content

ROOT = Path(__file__).resolve().parents[2]


def test_parts_on_two_workers_make_the_index_built_in_one_piece(
    parted_corpora, whole_build, tmp_path
):
    parts = [cut_parts(c, PART_CHARS, "") for c in parted_corpora]
    assert [len(p) for p in parts] == [5, 1, 4]  # gsm8k-test, humaneval, books
    out = tmp_path / "two"
    build_index(out, parted_corpora, engine=BuildEngine(workers=2, part_chars=PART_CHARS))
    assert index_content(out) == index_content(whole_build)
    assert not PartsFolder.beside(out).root.exists()


def _build_command(parted_inputs: list[str], out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "service.cli",
        "index",
        "build",
        *parted_inputs,
        "--out",
        str(out),
        "--workers",
        "2",
        "--part-chars",
        str(PART_CHARS),
        "--no-progress",
    ]


def test_a_killed_build_resumes_from_its_finished_parts(parted_inputs, whole_build, tmp_path):
    out = tmp_path / "resumed"
    work = PartsFolder.beside(out).root
    command = _build_command(parted_inputs, out)
    build = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300  # a hung build fails the test instead of hanging it
    while build.poll() is None and not list(work.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    build.send_signal(signal.SIGKILL)
    build.communicate()
    assert build.returncode == -signal.SIGKILL  # killed while building, not finished
    finished = sorted(p.stem for p in work.glob("*.json"))
    assert 0 < len(finished) < 10 and not (out / "manifest.json").exists()

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    resumed = re.search(r"resuming: (\d+) of (\d+) part\(s\)", rerun.stderr)
    assert resumed, rerun.stderr
    # Every part finished before the kill is reused (parts finishing in the instant between
    # the poll and the kill count too), and none is reused that was not there.
    assert len(finished) <= int(resumed[1]) < int(resumed[2]) == 10
    assert index_content(out) == index_content(whole_build)
    assert not work.exists()


def _quiz(texts: list[str]) -> Corpus:
    items = [ReferenceItem(f"q-{i}", text) for i, text in enumerate(texts)]
    return Corpus(name="quiz", kind=CorpusKind.BENCHMARK, items=items)


QUIZ = _quiz(
    [
        "What is the boiling point of water at sea level in kelvin?",
        "Name the largest moon of Saturn and the gas its atmosphere is mostly made of.",
        "Which element has the atomic number 26 and the chemical symbol Fe?",
        "How many bones does an adult human skeleton have, counting the small ones?",
        "Who wrote the novel Middlemarch, and under which pen name was it published?",
        "What is the longest river in South America by the volume of water it carries?",
    ]
)


class _Interrupted(Exception):
    pass


def _interrupt_after(items: int):
    """A progress factory that stops the build once ``items`` items are fingerprinted."""
    seen = [0]

    def factory(total: int, label: str, unit: str):
        def advance(step: int) -> None:
            if label.endswith("fingerprints"):
                seen[0] += step
                if seen[0] > items:
                    raise _Interrupted

        return advance

    return factory


def test_parts_of_a_build_with_other_settings_are_deleted_not_reused(tmp_path, caplog):
    out, clean = tmp_path / "index", tmp_path / "clean"
    engine = BuildEngine(workers=1, part_chars=1)  # one item per part
    with pytest.raises(_Interrupted):
        build_index(out, [QUIZ], engine=engine, progress=_interrupt_after(3))
    assert len(list(PartsFolder.beside(out).root.glob("*.json"))) == 3

    other = IndexSettings(chunking=ChunkingSettings(passage_tokens=8, passage_stride=4))
    build_index(out, [QUIZ], engine=engine, settings=other)
    assert "deleted 3 part(s)" in caplog.text and "resuming" not in caplog.text
    build_index(clean, [QUIZ], settings=other)
    assert index_content(out) == index_content(clean)
    assert not PartsFolder.beside(out).root.exists()


def test_parts_are_reused_by_a_build_that_only_changes_how_vectors_are_searched(tmp_path, caplog):
    """The vector index is made by the merge and probed by the scanner: its settings do not
    change a part, so a killed build's parts are kept when only they change."""
    out, clean = tmp_path / "index", tmp_path / "clean"
    engine = BuildEngine(workers=1, part_chars=1)
    with pytest.raises(_Interrupted):
        build_index(out, [QUIZ], engine=engine, progress=_interrupt_after(3))
    other = IndexSettings(vectors=VectorSettings(max_nprobe=8, train_max=1000))
    build_index(out, [QUIZ], engine=engine, settings=other)
    assert "resuming: 3 of" in caplog.text and "deleted" not in caplog.text
    build_index(clean, [QUIZ], settings=other)
    assert index_content(out) == index_content(clean)


def test_a_build_stopped_while_writing_corpora_is_finished_by_a_rerun(tmp_path):
    out, clean = tmp_path / "index", tmp_path / "clean"
    trivia = Corpus(
        name="trivia",
        kind=CorpusKind.BENCHMARK,
        items=[ReferenceItem("t-0", "Who painted the ceiling of the Sistine Chapel in Rome?")],
    )
    # A file where the second corpus's temporary folder goes: its write fails, after the
    # first corpus and a manifest of it are written.
    blocker = out / "corpora" / f".trivia.tmp-{os.getpid()}"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    with pytest.raises(NotADirectoryError):
        build_index(out, [QUIZ, trivia])
    assert [c["name"] for c in json.loads((out / "manifest.json").read_text())["corpora"]] == [
        "quiz"
    ]
    blocker.unlink()
    build_index(out, [QUIZ, trivia])  # no --overwrite: the parts folder says it is this build
    build_index(clean, [QUIZ, trivia])
    assert index_content(out) == index_content(clean)
    assert not PartsFolder.beside(out).root.exists()
    with pytest.raises(ClearanceIndexError, match="already holds an index"):
        build_index(out, [QUIZ, trivia])
