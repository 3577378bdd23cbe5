"""Applying a gate policy to a stream of scan results, one pass, constant memory.

Results arrive in their JSON form (``ScanResult.to_dict()``, or ``{"decision": null, "error":
...}`` for a record that could not be scanned), whether they were just scanned or read from an
earlier run, so both paths are judged by the same code.

A scope (all documents, one corpus kind, one corpus) sees, for each document, only the matches
in that scope: a document is flagged for ``kinds.benchmark`` when one of its benchmark matches
has a flagged decision, whatever its copyright matches say. Shares are of scanned documents.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from service.gate.policy import Flagged, GatePolicy, ScopeRules

# How many example documents a failed rule names: enough to start a review, short enough to read.
EXAMPLES = 10


@dataclass(frozen=True)
class Offender:
    """A document behind a failed rule: what it matched and how strongly."""

    id: str
    risk: float
    decision: str | None
    ref: str | None = None  # "corpus/ref_id" of its strongest match in the rule's scope
    error: str | None = None  # why it was rejected, for the rejected-records rule

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class RuleOutcome:
    """One rule of the policy, judged: ``observed`` against ``limit`` (passes when <=)."""

    rule: str  # the policy key it came from, e.g. "kinds.benchmark.max_flagged_share"
    passed: bool
    observed: float
    limit: float
    detail: str
    examples: tuple[Offender, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "passed": self.passed,
            "observed": round(self.observed, 6),
            "limit": self.limit,
            "detail": self.detail,
            "examples": [o.to_dict() for o in self.examples],
        }


@dataclass(frozen=True)
class DocumentCounts:
    scanned: int
    rejected: int
    keep: int
    review: int
    remove: int

    @property
    def total(self) -> int:
        return self.scanned + self.rejected

    def to_dict(self) -> dict[str, int]:
        return {**vars(self), "total": self.total}


@dataclass(frozen=True)
class GateVerdict:
    """Whether a set of documents may go on, and every rule's numbers saying why.

    Truthy when the gate passed, so pipeline code can write ``if gate(...): ...``.
    """

    passed: bool
    rules: tuple[RuleOutcome, ...]
    counts: DocumentCounts
    flagged: str
    sources: tuple[str, ...] = ()
    policy_path: str | None = None
    index: str | None = None
    tiers: tuple[str, ...] | None = None

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failures(self) -> tuple[RuleOutcome, ...]:
        return tuple(r for r in self.rules if not r.passed)

    def rule(self, name: str) -> RuleOutcome:
        for outcome in self.rules:
            if outcome.rule == name:
                return outcome
        raise KeyError(f"no rule {name!r}; rules: {', '.join(r.rule for r in self.rules)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "clearance.gate.report/1",
            "passed": self.passed,
            "failed_rules": [r.rule for r in self.failures],
            "documents": self.counts.to_dict(),
            "flagged": self.flagged,
            "rules": [r.to_dict() for r in self.rules],
            "sources": list(self.sources),
            "policy": self.policy_path,
            "index": self.index,
            "tiers": None if self.tiers is None else list(self.tiers),
        }


@dataclass
class _ScopeTally:
    """What one scope saw: flagged and matching documents, the riskiest ones first."""

    flagged: Flagged
    # Documents at or above this risk count for zero tolerance.
    zero_tolerance_min_risk: float = 0.0
    flagged_docs: int = 0
    hit_docs: int = 0
    zero_tolerance_docs: int = 0
    max_risk: float = 0.0
    _seen: int = 0
    _top_hits: list[tuple[float, int, Offender]] = field(default_factory=list)
    _top_flagged: list[tuple[float, int, Offender]] = field(default_factory=list)

    def add(self, offender: Offender) -> None:
        self._seen += 1
        self.hit_docs += 1
        if offender.risk >= self.zero_tolerance_min_risk:
            self.zero_tolerance_docs += 1
        self.max_risk = max(self.max_risk, offender.risk)
        _keep_top(self._top_hits, (offender.risk, -self._seen, offender))
        if self.flagged.includes(offender.decision):
            self.flagged_docs += 1
            _keep_top(self._top_flagged, (offender.risk, -self._seen, offender))

    def top_hits(self) -> list[Offender]:
        return [o for _, _, o in sorted(self._top_hits, reverse=True)]

    def top_flagged(self) -> list[Offender]:
        return [o for _, _, o in sorted(self._top_flagged, reverse=True)]


def _keep_top(heap: list[tuple[float, int, Offender]], item: tuple[float, int, Offender]) -> None:
    if len(heap) < EXAMPLES:
        heapq.heappush(heap, item)
    else:
        heapq.heappushpop(heap, item)


class GateTally:
    """Counts results against a policy; feed it with ``add`` and read the ``verdict``."""

    def __init__(self, policy: GatePolicy):
        self.policy = policy
        self.scopes = {
            name: _ScopeTally(policy.flagged_for(r), r.zero_tolerance_min_risk)
            for name, r in policy.scopes()
        }
        self.scanned = 0
        self.decisions = {"keep": 0, "review": 0, "remove": 0}
        self.rejected = 0
        self._rejected_examples: list[Offender] = []

    def add(self, result: dict[str, Any]) -> None:
        doc_id = str(result.get("id"))
        decision = result.get("decision")
        if decision is None:
            self.rejected += 1
            if len(self._rejected_examples) < EXAMPLES:
                error = str(result.get("error") or result.get("reason") or "rejected")
                self._rejected_examples.append(Offender(doc_id, 0.0, None, error=error))
            return
        self.scanned += 1
        self.decisions[decision] += 1
        # A match a reviewer dismissed (allowlisted) is reported, but no rule counts it.
        matches = [m for m in result.get("matches") or [] if not m.get("allowed")]
        for name, tally in self.scopes.items():
            offender = _scope_view(name, doc_id, result, matches)
            if offender is not None:
                tally.add(offender)

    def add_all(self, results: Iterable[dict[str, Any]]) -> GateTally:
        for result in results:
            self.add(result)
        return self

    def verdict(self, **context: Any) -> GateVerdict:
        rules = [self._rejected_rule()]
        for name, scope_rules in self.policy.scopes():
            rules.extend(self._scope_rules(name, scope_rules, self.scopes[name]))
        counts = DocumentCounts(self.scanned, self.rejected, **self.decisions)
        return GateVerdict(
            passed=all(r.passed for r in rules),
            rules=tuple(rules),
            counts=counts,
            flagged=self.policy.flagged.value,
            **context,
        )

    def _rejected_rule(self) -> RuleOutcome:
        total = self.scanned + self.rejected
        share = self.rejected / total if total else 0.0
        limit = self.policy.max_rejected_share
        return RuleOutcome(
            rule="max_rejected_share",
            passed=share <= limit,
            observed=share,
            limit=limit,
            detail=f"{self.rejected} of {total} records could not be scanned",
            examples=tuple(self._rejected_examples) if share > limit else (),
        )

    def _scope_rules(self, name: str, rules: ScopeRules, tally: _ScopeTally) -> list[RuleOutcome]:
        what = "documents" if name == "overall" else f"documents with a {_label(name)} match"
        hits = "documents with any match" if name == "overall" else what
        outcomes = []
        if rules.max_flagged_share is not None:
            share = tally.flagged_docs / self.scanned if self.scanned else 0.0
            passed = share <= rules.max_flagged_share
            at = "remove" if tally.flagged is Flagged.REMOVE else "review or remove"
            outcomes.append(
                RuleOutcome(
                    rule=f"{name}.max_flagged_share",
                    passed=passed,
                    observed=share,
                    limit=rules.max_flagged_share,
                    detail=f"{tally.flagged_docs} of {self.scanned} {_plural(self.scanned, what)} "
                    f"at {at}",
                    examples=() if passed else tuple(tally.top_flagged()),
                )
            )
        if rules.max_risk is not None:
            passed = tally.max_risk <= rules.max_risk
            top = tally.top_hits()
            detail = (
                f"highest risk {top[0].risk:.4f} in {top[0].id} ({top[0].ref})"
                if top
                else "no matches"
            )
            outcomes.append(
                RuleOutcome(
                    rule=f"{name}.max_risk",
                    passed=passed,
                    observed=tally.max_risk,
                    limit=rules.max_risk,
                    detail=detail,
                    examples=() if passed else tuple(o for o in top if o.risk > rules.max_risk),
                )
            )
        if rules.zero_tolerance:
            count, floor = tally.zero_tolerance_docs, rules.zero_tolerance_min_risk
            passed = count == 0
            counted = (
                f"any match at risk >= {floor:g} fails" if floor else "any reported match fails"
            )
            outcomes.append(
                RuleOutcome(
                    rule=f"{name}.zero_tolerance",
                    passed=passed,
                    observed=float(count),
                    limit=0.0,
                    detail=f"{count} {_plural(count, hits)} ({counted})",
                    examples=()
                    if passed
                    else tuple(o for o in tally.top_hits() if o.risk >= floor),
                )
            )
        return outcomes


def _plural(count: int, phrase: str) -> str:
    return phrase.replace("documents", "document", 1) if count == 1 else phrase


def _label(scope: str) -> str:
    return scope.split(".", 1)[1]


def _scope_view(
    scope: str, doc_id: str, result: dict[str, Any], matches: list[dict[str, Any]]
) -> Offender | None:
    """The document as one scope sees it, or None when it has no match in that scope."""
    if scope == "overall":
        in_scope = matches
        if not matches and result["decision"] == "keep":
            return None
    else:
        section, name = scope.split(".", 1)
        key = "kind" if section == "kinds" else "corpus"
        in_scope = [m for m in matches if m.get(key) == name]
        if not in_scope:
            return None
    if scope == "overall":
        risk, decision = float(result["risk"]), result["decision"]
    else:
        risk = max(float(m["risk"]) for m in in_scope)
        decision = max((m["decision"] for m in in_scope), key=_severity)
    top = max(in_scope, key=lambda m: float(m["risk"]), default=None)
    ref = f"{top['corpus']}/{top['ref_id']}" if top is not None else None
    return Offender(doc_id, risk, decision, ref)


def _severity(decision: str) -> int:
    return {"keep": 0, "review": 1, "remove": 2}[decision]


def evaluate(results: Iterable[dict[str, Any]], policy: GatePolicy, **context: Any) -> GateVerdict:
    """Judge a stream of result dicts against ``policy`` in one pass."""
    return GateTally(policy).add_all(results).verdict(**context)
