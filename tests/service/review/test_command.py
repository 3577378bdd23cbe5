"""``clearance review`` on the command line: exports, and the errors a user can make."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from service.cli import app
from service.review.queue import ReviewResults
from service.review.store import Verdict


def review(*args) -> object:
    return CliRunner().invoke(app, ["review", *map(str, args)])


def test_exports_write_the_verdicts_and_the_allowlist_and_say_the_counts(shard_results, tmp_path):
    results = ReviewResults.open(shard_results)
    results.store.record(
        Verdict("rv-review2", "gsm8k-test", "50", "dismissed", "ben", 1, level="document")
    )
    verdicts, allowlist = tmp_path / "v.jsonl", tmp_path / "a.jsonl"
    run = review(shard_results, "--verdicts-out", verdicts, "--allowlist-out", allowlist)

    assert run.exit_code == 0, run.output
    assert "5 flagged documents: 1 reviewed (0 confirmed, 1 dismissed)" in run.output
    assert json.loads(verdicts.read_text(encoding="utf-8"))["reviewer"] == "ben"
    assert json.loads(allowlist.read_text(encoding="utf-8"))["doc_id"] == "rv-review2"


def test_user_errors_are_one_line_and_exit_2(shard_results, review_inputs, tmp_path):
    for args, message in [
        ((tmp_path / "missing.jsonl",), "does not exist"),
        ((review_inputs,), "not a scan-shards output folder"),
        ((shard_results, "--host", "0.0.0.0"), "no login of their own"),
    ]:
        run = review(*args)
        assert run.exit_code == 2 and message in run.output, run.output
