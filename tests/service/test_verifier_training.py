"""Fitting the verifier: calibration documents place the threshold and are never fitted on,
and no large hard-negative set passes it at more than its own share."""

from __future__ import annotations

import random

import numpy as np

from service.verifier import FEATURES
from service.verifier_training import (
    PER_SET_DOC_FPR,
    TARGET_DOC_FPR,
    Example,
    _threshold,
    fit,
)


def _example(rng: random.Random, label: int, code: bool, source: str, doc: str, high: bool):
    base = 0.8 if high else 0.3
    features = {name: min(1.0, max(0.0, base + rng.gauss(0, 0.1))) for name in FEATURES}
    features.update(is_code=float(code), ref_tokens=40.0, has_numbers=1.0, has_entities=0.0)
    return Example(features, label, source, doc)


def _training(rng: random.Random) -> list[Example]:
    examples = []
    for number in range(480):
        code, label = number % 2 == 0, int(number % 4 < 2)
        source = ("code-renamed" if code else "reworded") if label else "negatives"
        examples.append(_example(rng, label, code, source, f"doc-{number}", high=bool(label)))
    return examples


def test_calibration_documents_raise_the_threshold_they_would_pass_and_are_not_fitted():
    rng = random.Random(0)
    training = _training(rng)
    # Code documents hiding nothing that look like copies: only the threshold can keep them out.
    calibration = [
        _example(rng, 0, True, "calibration-mbpp", f"cal-{n}", high=True) for n in range(40)
    ]
    without = fit(training, seed=7)
    model = fit(training + calibration, seed=7)
    assert model["info"]["examples"] == len(training)
    assert model["info"]["calibration_documents"] == len(calibration)
    assert model["trees"] == without["trees"]
    assert model["accept_at"]["prose"] == without["accept_at"]["prose"]
    assert model["accept_at"]["code"] > without["accept_at"]["code"]


def _scored(source: str, probabilities: list[float]) -> tuple[list[Example], list[float]]:
    features = dict.fromkeys(FEATURES, 0.5) | {"is_code": 0.0}
    examples = [Example(features, 0, source, f"{source}-{n}") for n in range(len(probabilities))]
    return examples, probabilities


def test_each_large_hard_negative_set_keeps_its_own_share_below_the_threshold():
    """Pooled with thousands of easy negatives, a few hundred hard ones of one set could pass
    at ten times the pooled share; a set too small for the quantile places none."""
    rng = random.Random(1)
    easy = _scored("calibration-gsm8k-train", [rng.uniform(0.0, 0.6) for _ in range(4000)])
    hard = [0.9 + 0.009 * n for n in range(10)] + [0.2] * 290
    for size, bounded in ((300, True), (150, False)):
        mmlu = _scored("calibration-mmlu-other", hard[:10] + hard[10:size])
        examples, probabilities = easy[0] + mmlu[0], easy[1] + mmlu[1]
        threshold = _threshold(examples, np.asarray(probabilities), code=False)
        passing = sum(p >= threshold for p in mmlu[1])
        pooled = sum(p >= threshold for p in probabilities)
        assert pooled <= TARGET_DOC_FPR * len(probabilities)
        if bounded:
            assert passing <= PER_SET_DOC_FPR * size
        else:
            assert passing == 10 and threshold < 0.9
