"""The gate: pass or fail a set of documents against a contamination policy.

``gate`` (and ``clearance gate``) scans documents, or reads an earlier scan's results, and
judges them against a ``GatePolicy``; ``ClearanceFilter`` and
``service.gate.datatrove_step.ClearanceDatatroveFilter`` apply the scanner inside data tools.
"""

from __future__ import annotations

from service.gate.api import gate
from service.gate.evaluate import DocumentCounts, GateVerdict, Offender, RuleOutcome, evaluate
from service.gate.filters import ClearanceFilter
from service.gate.policy import Flagged, GatePolicy, GatePolicyError, ScopeRules, load_policy
from service.gate.results_input import GateInputError, read_results

__all__ = [
    "ClearanceFilter",
    "DocumentCounts",
    "Flagged",
    "GateInputError",
    "GatePolicy",
    "GatePolicyError",
    "GateVerdict",
    "Offender",
    "RuleOutcome",
    "ScopeRules",
    "evaluate",
    "gate",
    "load_policy",
    "read_results",
]
