"""The gate's two outputs: a short summary for the CI log and a JSON report for machines."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from service.gate.evaluate import GateVerdict, RuleOutcome

# Examples printed per failed rule; the JSON report holds up to evaluate.EXAMPLES.
PRINTED_EXAMPLES = 3


def print_summary(verdict: GateVerdict, console: Console) -> None:
    """One line per rule, never wrapped, so CI logs stay greppable (``grep '^FAIL'``)."""
    counts = verdict.counts
    status = "[bold green]PASS[/]" if verdict.passed else "[bold red]FAIL[/]"
    failed = len(verdict.failures)
    console.print(
        f"clearance gate: {status} — {len(verdict.rules) - failed} of {len(verdict.rules)} rules "
        f"passed; {counts.scanned} documents scanned ({counts.keep} keep, {counts.review} review, "
        f"{counts.remove} remove), {counts.rejected} rejected",
        highlight=False,
        soft_wrap=True,
    )
    for outcome in verdict.rules:
        mark = "[green]pass[/]" if outcome.passed else "[bold red]FAIL[/]"
        relation = "<=" if outcome.passed else ">"
        console.print(
            f"{mark}  {outcome.rule}: {_number(outcome, outcome.observed)} {relation} "
            f"{_number(outcome, outcome.limit)} — {escape(outcome.detail)}",
            highlight=False,
            soft_wrap=True,
        )
        if not outcome.passed:
            for example in outcome.examples[:PRINTED_EXAMPLES]:
                what = example.error or f"risk {example.risk:.2f} {example.decision}, {example.ref}"
                console.print(
                    f"        {escape(example.id)}: {escape(what)}", highlight=False, soft_wrap=True
                )


def _number(outcome: RuleOutcome, value: float) -> str:
    if outcome.rule.endswith("zero_tolerance"):
        return str(int(value))
    if outcome.rule.endswith("share"):
        return f"{value:.2%}" if value == 0 or value >= 0.0001 else f"{value:.2e}"
    return f"{value:.4f}"


def write_report(verdict: GateVerdict, path: Path) -> None:
    """Write atomically: an orchestrator polling for the report never reads half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
