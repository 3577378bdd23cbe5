"""`clearance scan` shows near misses of the paraphrase tier: the real command, real index."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from reference_corpora.suite import hide

CLEARANCE = str(Path(sys.executable).with_name("clearance"))


def _allusion(small_corpora, web_docs) -> str:
    """Half of a test question hidden in a web page: close to the item, not a copy of it."""
    item = small_corpora[0].items[10]
    words = item.text[: item.meta["prompt_end"]].split()
    allusion = " ".join(words[: len(words) // 2]) + " and so on."
    return hide(allusion, web_docs[600], random.Random(1))[0]


def test_explain_shows_the_best_unaccepted_pairs_and_the_threshold(
    small_index, small_corpora, web_docs, tmp_path
):
    page = tmp_path / "page.txt"
    page.write_text(_allusion(small_corpora, web_docs), encoding="utf-8")
    shown = subprocess.run(
        [CLEARANCE, "scan", "--index", str(small_index), str(page), "--explain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "near miss " in shown and "static cosine" in shown
    assert "< threshold" in shown or "ruled out before the transformer" in shown


def test_near_misses_are_a_json_field_only_when_asked(
    small_index, small_corpora, web_docs, tmp_path
):
    page = tmp_path / "page.txt"
    page.write_text(_allusion(small_corpora, web_docs), encoding="utf-8")
    asked = subprocess.run(
        [CLEARANCE, "scan", "--index", str(small_index), str(page), "--near-misses", "2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (result,) = [json.loads(line) for line in asked.splitlines()]
    misses = result["near_misses"]
    assert 1 <= len(misses) <= 2
    assert {"ref_id", "static_cosine", "cosine", "probability", "threshold"} <= set(misses[0])
    plain = subprocess.run(
        [CLEARANCE, "scan", "--index", str(small_index), str(page)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "near_misses" not in json.loads(plain.splitlines()[0])
