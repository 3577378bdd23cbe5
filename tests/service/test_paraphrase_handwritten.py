"""Rephrasings written by hand, not by our generators (reference_corpora/samples).

The verifier is trained on rewordings made by ``reference_corpora/transforms.py``; these check
that it has not learned only those generators' habits. The index holds each reworded item
among a few hundred others of its benchmark, so that an item of the same style is always
nearby, as in a real index.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.corpus import Corpus
from reference_corpora.suite import hide, read_handwritten
from service.scanner import Scanner
from tests.conftest import catalog_corpus


@pytest.fixture(scope="module")
def scanner(tmp_path_factory, data_root: Path, embedder) -> Scanner:
    wanted: dict[str, set[str]] = {}
    for record in read_handwritten():
        if record["label"]:
            wanted.setdefault(record["corpus"], set()).add(record["ref_id"])
    corpora = []
    for name, ids in wanted.items():
        corpus = catalog_corpus(name, data_root)
        mine = [it for it in corpus.items if it.id in ids]
        subjects = {it.meta.get("subject") for it in mine}
        neighbours = [
            it for it in corpus.items if it.id not in ids and it.meta.get("subject") in subjects
        ]
        items = mine + random.Random(0).sample(neighbours, min(250, len(neighbours)))
        corpora.append(Corpus(name, corpus.kind, items, mode=corpus.mode))
    out = tmp_path_factory.mktemp("handwritten") / "index"
    build_index(out, corpora)
    return Scanner.load(out)


def test_handwritten_rephrasings_hidden_in_web_pages_are_found(scanner, web_docs):
    positives = [r for r in read_handwritten() if r["label"]]
    found = []
    for number, record in enumerate(positives):
        doc, span = hide(record["text"], web_docs[800 + number], random.Random(number))
        result = scanner.scan(doc)
        found.append(
            any(
                m.ref_id == record["ref_id"]
                and m.decision.value != "keep"
                and any(e.doc_start < span[1] and e.doc_end > span[0] for e in m.evidence)
                for m in result.matches
            )
        )
    # benchmarks/paraphrase.py reports the rate on the same set against a full index; 26 of
    # 33 here with the verifier of revision d2cac0a.
    assert sum(found) >= 0.7 * len(positives), f"{sum(found)} of {len(positives)}"


def test_handwritten_rephrasings_of_train_problems_stay_keep(scanner, web_docs):
    negatives = [r for r in read_handwritten() if not r["label"]]
    flagged = []
    for number, record in enumerate(negatives):
        doc, _ = hide(record["text"], web_docs[900 + number], random.Random(number))
        if scanner.scan(doc).decision.value != "keep":
            flagged.append(record["ref_id"])
    assert not flagged
