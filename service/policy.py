"""Scan policy: how much of a reference must be found, how closely, before a document is flagged.

Benchmarks and copyrighted works call for different rules. Any recognisable test item in
training data contaminates the benchmark, so a benchmark item counts in full once the document
holds all of it or ``saturation_tokens`` words of it. A short quotation from a book is ordinary
writing; a page of it is a copy, so works saturate later.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from service.results import Decision


@dataclass(frozen=True)
class KindPolicy:
    """Thresholds for one corpus kind (``benchmark`` or ``copyright``)."""

    review_at: float
    remove_at: float
    # Matched reference tokens at which a match counts in full (or the whole item if shorter).
    saturation_tokens: int
    # Share of the item's key (its prompt, or the whole item) that counts in full, when that is
    # less than the saturation settings: a long question needs a long match.
    required_share: float = 0.6
    # Rare-term mass at which a match counts in full (or the whole item's if smaller): what
    # keeps shared stock phrases ("at the end of the first") from counting at all.
    saturation_mass: float = 8.0
    # Verbatim regions below this aligned similarity are not evidence at all.
    min_similarity: float = 0.75
    # Fewest n-gram hits before a reference passage is even aligned (capped at its gram count).
    candidate_min_hits: int = 2
    # Whether verbatim evidence counts only as far as the numbers on both sides agree: GSM8K
    # train and test problems share templated wording and differ only in their numbers. In a
    # work, numbers are dates and OCR noise ("t0", "0'er"): one of them zeroed a page-long copy.
    check_numbers: bool = True
    # Whether a verbatim region counts only when it holds some of the item's own text: an
    # n-gram no other reference item has, outside the item's quotation marks. Questions of
    # one subject share stock wording ("the equal protection clause of the Fourteenth
    # Amendment") and quote the same sayings, which a page can hold without holding the item.
    # A work's dialogue is in quotation marks, so works do not ask for this.
    require_own_text: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.review_at <= self.remove_at <= 1:
            raise ValueError(
                f"need 0 < review_at <= remove_at <= 1, got {self.review_at}, {self.remove_at}"
            )
        if self.saturation_tokens < 1:
            raise ValueError("saturation_tokens must be at least 1")

    def decide(self, risk: float) -> Decision:
        if risk >= self.remove_at:
            return Decision.REMOVE
        if risk >= self.review_at:
            return Decision.REVIEW
        return Decision.KEEP


@dataclass(frozen=True)
class Policy:
    """Per-kind thresholds used by the scanner to turn evidence into a decision."""

    # A test item counts in full once 60% of its question (or 50 tokens of a long one) is in the
    # document; its rare-term mass must be there too, so stock phrases count for nothing.
    benchmark: KindPolicy = field(
        default_factory=lambda: KindPolicy(review_at=0.5, remove_at=0.8, saturation_tokens=50)
    )
    # About a paragraph: quotations of a sentence or two stay below review.
    copyright: KindPolicy = field(
        default_factory=lambda: KindPolicy(
            review_at=0.5,
            remove_at=0.8,
            saturation_tokens=64,
            saturation_mass=20.0,
            candidate_min_hits=4,
            check_numbers=False,
            require_own_text=False,
        )
    )

    def for_kind(self, kind: str) -> KindPolicy:
        return getattr(self, str(kind))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: vars(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """Override defaults with a partial mapping: ``{"benchmark": {"review_at": 0.4}}``.

        The one parser of policy overrides: ``CLEARANCE_POLICY`` for ``serve`` and the file
        of ``scan --policy`` both come here. Raises ``ValueError`` naming what is wrong.
        """
        if not isinstance(data, dict):
            raise ValueError("a policy is a mapping of corpus kind to thresholds")
        policy = cls()
        for kind, overrides in data.items():
            if kind not in {f.name for f in fields(cls)}:
                raise ValueError(f"unknown corpus kind {kind!r} in policy; use benchmark/copyright")
            current = getattr(policy, kind)
            if not isinstance(overrides, dict):
                raise ValueError(f"policy {kind!r}: expected a mapping of thresholds")
            for name, value in overrides.items():
                _check_threshold(kind, name, value, getattr(current, name, None))
            policy = replace(policy, **{kind: replace(current, **overrides)})
        return policy


def _check_threshold(kind: str, name: str, value: Any, default: Any) -> None:
    known = {f.name for f in fields(KindPolicy)}
    if name not in known:
        raise ValueError(
            f"unknown threshold {kind}.{name} in policy; known: {', '.join(sorted(known))}"
        )
    expected = type(default)
    ok = (
        isinstance(value, bool)
        if expected is bool
        else isinstance(value, int | float) and not isinstance(value, bool)
    )
    if expected is int and isinstance(value, float):
        ok = value.is_integer()
    if not ok:
        raise ValueError(f"policy {kind}.{name} must be a {expected.__name__}, got {value!r}")


def load_policy_file(path: Path | str) -> Policy:
    """Threshold overrides from a JSON, TOML or YAML file (by its suffix), as ``from_dict``.

    >>> load_policy_file("policy.toml")  # [benchmark] review_at = 0.4      # doctest: +SKIP
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the policy: {exc}") from exc
    suffix = path.suffix.lower()
    import yaml

    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        return Policy.from_dict(data)
    except (ValueError, TypeError, yaml.YAMLError) as exc:  # JSON and TOML errors: ValueError
        raise ValueError(f"{path}: {' '.join(str(exc).split())}") from exc
