"""Fitting the verifier: calibration documents place the threshold and are never fitted on."""

from __future__ import annotations

import random

from service.verifier import FEATURES
from service.verifier_training import Example, fit


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
