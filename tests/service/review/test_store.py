"""Verdicts in SQLite: two reviewers writing at once lose nothing; the latest verdict counts."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from service.allowlist import AllowEntry
from service.review.allowlist import dismissed_entries
from service.review.store import Verdict, VerdictError, VerdictStore

PER_WRITER = 150


def write_verdicts(path: str, reviewer: str, start) -> None:
    """One reviewer: a store of its own, a verdict per document as fast as it can. After its
    first verdict it waits for the other reviewer's, so the two surely write at the same time."""
    store = VerdictStore(path)
    start.wait()
    for n in range(PER_WRITER):
        store.record(
            Verdict(
                f"{reviewer}-doc-{n}",
                "gsm8k-test",
                str(n % 7),
                "dismissed",
                reviewer,
                1,
                level="document",
                note=f"note {n}",
            )
        )
        while n == 0 and {v.reviewer for v in store.history()} != {"ana", "ben"}:
            time.sleep(0.005)
    store.close()


def test_two_processes_writing_at_once_lose_no_verdict(tmp_path: Path):
    path = str(tmp_path / "verdicts.sqlite")
    VerdictStore(path).close()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [
        context.Process(target=write_verdicts, args=(path, name, start)) for name in ("ana", "ben")
    ]
    for writer in writers:
        writer.start()
    start.set()
    for writer in writers:
        writer.join(timeout=120)
    assert [w.exitcode for w in writers] == [0, 0]

    with VerdictStore(path) as store:
        history = list(store.history())
        assert len(history) == 2 * PER_WRITER
        assert len({v.id for v in history}) == 2 * PER_WRITER
        # Both wrote at the same time (each one's first verdict precedes the other's others).
        order = [v.reviewer for v in history]
        assert order != sorted(order)
        assert {(v.reviewer, v.note) for v in history} == {
            (r, f"note {n}") for r in ("ana", "ben") for n in range(PER_WRITER)
        }
        assert store.counts().to_dict() == {
            "reviewed": 2 * PER_WRITER,
            "confirmed": 0,
            "dismissed": 2 * PER_WRITER,
        }


def _run_together(*calls: Callable[[], object]) -> list[BaseException]:
    """Run each call on a thread of its own and return what they raised (a failed thread must
    fail the test, not leave the others waiting)."""
    errors: list[BaseException] = []

    def guarded(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as error:  # handed back to the test
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_reviewers_opening_a_new_verdicts_file_at_once_both_open_it(tmp_path: Path):
    """Two stores switching a fresh file to its write-ahead log together: SQLite refused one
    of them at once ("database is locked") about one time in seven."""

    def open_store(path: Path, barrier: threading.Barrier, reviewer: str) -> None:
        barrier.wait(timeout=30)
        with VerdictStore(path) as store:
            store.record(Verdict("doc-1", "c", "i", "confirmed", reviewer, 2))

    for trial in range(60):
        path = tmp_path / f"verdicts-{trial}.sqlite"
        barrier = threading.Barrier(2)
        ana, ben = (partial(open_store, path, barrier, name) for name in ("ana", "ben"))
        assert _run_together(ana, ben) == []
        with VerdictStore(path) as store:
            assert len(list(store.history())) == 2


def test_two_threads_with_stores_of_their_own_write_at_once(tmp_path: Path):
    path = tmp_path / "verdicts.sqlite"
    barrier = threading.Barrier(2, timeout=60)

    def reviewer(name: str) -> None:
        with VerdictStore(path) as store:
            barrier.wait()
            for n in range(50):
                store.record(Verdict(f"doc-{n}", "c", name, "confirmed", name, 2))

    assert _run_together(partial(reviewer, "ana"), partial(reviewer, "ben")) == []
    with VerdictStore(path) as store:
        assert len(list(store.history())) == 100
        # Each document has two flagged matches, one judged by each reviewer: all reviewed.
        assert store.counts().to_dict() == {"reviewed": 50, "confirmed": 50, "dismissed": 0}


def test_request_threads_sharing_one_store_write_at_once(tmp_path: Path):
    """As a server's threads do: one connection, verdicts and page reads at the same time."""
    barrier = threading.Barrier(3, timeout=60)

    with VerdictStore(tmp_path / "verdicts.sqlite") as store:

        def reviewer(name: str) -> None:
            barrier.wait()
            for n in range(100):
                store.record(Verdict(f"{name}-{n}", "c", "r", "confirmed", name, 1))

        def reader() -> None:
            barrier.wait()
            for _ in range(100):
                store.counts()
                list(store.latest())

        assert _run_together(partial(reviewer, "ana"), partial(reviewer, "ben"), reader) == []
        assert store.counts().to_dict() == {"reviewed": 200, "confirmed": 200, "dismissed": 0}


def test_the_latest_verdict_counts_and_dismissals_become_allowlist_entries(tmp_path: Path):
    with VerdictStore(tmp_path / "v.sqlite") as store:
        store.record(Verdict("d1", "gsm8k-test", "20", "dismissed", "ana", 1, level="document"))
        store.record(Verdict("d1", "gsm8k-test", "20", "confirmed", "ben", 1, note="it is"))
        store.record(
            Verdict(
                "d2",
                "gsm8k-test",
                "30",
                "dismissed",
                "ana",
                2,
                level="span",
                ref_start=0,
                ref_end=41,
                note="stock phrase",
            )
        )
        assert store.current("d1")[("gsm8k-test", "20")].reviewer == "ben"
        # d2 has a second flagged match without a verdict: not reviewed yet.
        assert store.counts().to_dict() == {"reviewed": 1, "confirmed": 1, "dismissed": 0}
        assert dismissed_entries(store) == [
            AllowEntry("gsm8k-test", "30", ref_span=(0, 41), note="stock phrase", reviewer="ana")
        ]
        assert store.export_jsonl(tmp_path / "verdicts.jsonl") == 3
    lines = (tmp_path / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [line.count('"verdict"') for line in lines] == [1, 1, 1]

    # Across a restart: a new store on the same file sees everything.
    with VerdictStore(tmp_path / "v.sqlite") as again:
        assert len(list(again.history())) == 3


@pytest.mark.parametrize(
    ("verdict", "message"),
    [
        (dict(verdict="maybe"), "confirmed or dismissed"),
        (dict(verdict="confirmed", reviewer=" "), "reviewer"),
        (dict(verdict="dismissed"), "level"),
        (dict(verdict="dismissed", level="span"), "reference span"),
    ],
)
def test_incomplete_verdicts_are_refused(verdict, message):
    fields = {"doc_id": "d", "corpus": "c", "ref_id": "r", "reviewer": "ana", "flagged_matches": 1}
    with pytest.raises(VerdictError, match=message):
        Verdict(**{**fields, **verdict})
