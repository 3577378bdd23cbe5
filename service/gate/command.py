"""``clearance gate`` behind the typer signature: run ``gate``, print, write, pick the exit code.

Exit codes are a contract with CI and orchestrators: 0 the set passed, 1 it failed the policy,
2 the gate could not decide (bad policy, unreadable input, missing or mismatched index). A crash
must not look like a policy failure, so anything unexpected is reported as 2, never 1.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from indexer.corpus import CorpusInputError
from indexer.manifest import ClearanceIndexError
from service.allowlist import AllowlistError, load_allowlist
from service.gate.api import gate
from service.gate.policy import GatePolicyError
from service.gate.report import print_summary, write_report
from service.gate.results_input import GateInputError
from service.scanner import parse_tiers

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_ERROR = 2


def run_gate(
    inputs: list[str],
    *,
    policy: Path,
    index: Path | None,
    from_results: bool,
    report: Path,
    results_out: Path | None,
    tiers: str,
    text_field: str,
    id_field: str,
    batch_size: int,
    allowlist: Path | None = None,
) -> int:
    to_stdout = str(report) == "-"
    console = Console(stderr=to_stdout, highlight=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)  # one line per error in CI logs
    try:
        if from_results and results_out is not None:
            raise ValueError("--results-out saves a fresh scan; it has no use with --from-results")
        if not from_results and index is None:
            raise ValueError("scanning needs --index INDEX_DIR (or pass --from-results)")
        chosen_tiers = parse_tiers(tiers)
        verdict = gate(
            None if from_results else inputs,
            results=inputs if from_results else None,
            policy=policy,
            index=index,
            tiers=chosen_tiers,
            text_field=text_field,
            id_field=id_field,
            batch_size=batch_size,
            results_out=results_out,
            allowlist=load_allowlist(allowlist),
        )
        if to_stdout:
            sys.stdout.write(json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False) + "\n")
        else:
            write_report(verdict, report)
    except (
        GatePolicyError,
        GateInputError,
        AllowlistError,
        ClearanceIndexError,
        CorpusInputError,
        OSError,
        ValueError,
    ) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return EXIT_ERROR
    except Exception:
        err.print("[bold red]internal error[/] (exit 2: the gate could not decide)")
        err.print(traceback.format_exc(), markup=False)
        return EXIT_ERROR
    print_summary(verdict, console)
    if not to_stdout:
        console.print(f"report: {report}")
    return EXIT_PASS if verdict.passed else EXIT_FAIL
