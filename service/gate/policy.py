"""Gate policies: how much contamination a pipeline stage tolerates, read from TOML or YAML.

A gate policy is a release rule, not a scan threshold: the scanner's ``Policy`` decides whether
one document is kept, reviewed or removed; the gate policy decides whether a whole set of
documents may move on. It is written by people and read by CI, so every mistake is reported
with the file and line that holds it.

    flagged = "review"            # which decisions count as flagged: "review" (and up) or "remove"
    max_rejected_share = 0.0      # unreadable records the set may hold (0: none)

    [overall]                     # every document, whatever it matched
    max_flagged_share = 0.01

    [kinds.benchmark]             # matches against any benchmark corpus
    max_flagged_share = 0.0
    max_risk = 0.8

    [corpora."gsm8k-test"]        # one corpus
    zero_tolerance = true         # any match at all fails, even one the scanner would keep
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from service.gate.source_lines import toml_key_lines, yaml_key_lines
from service.results import Decision


class GatePolicyError(ValueError):
    """A gate policy that cannot be read or does not make sense; says where and what to fix."""

    def __init__(self, path: Path | str | None, line: int | None, message: str):
        self.path = None if path is None else Path(path)
        self.line = line
        self.message = message
        where = str(self.path) if self.path is not None else "policy"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


class Flagged(StrEnum):
    """The least severe scan decision that counts as flagged."""

    REVIEW = "review"
    REMOVE = "remove"

    def includes(self, decision: Decision | str | None) -> bool:
        if decision is None:
            return False
        return Decision(decision).severity >= Decision(self.value).severity


_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class ScopeRules(BaseModel):
    """The limits for one scope: all documents, one corpus kind, or one corpus.

    Shares are of scanned documents; a limit is the largest value that still passes.
    """

    model_config = _STRICT

    max_flagged_share: float | None = Field(default=None, ge=0.0, le=1.0)
    max_risk: float | None = Field(default=None, ge=0.0, le=1.0)
    # Any reported match fails the gate, flagged or not: for sets you will evaluate on.
    zero_tolerance: bool = False
    # Matches weaker than this do not count for zero_tolerance. The scanner reports matches
    # from risk 0.2; on 1,300 real C4 pages two stock phrases ("from 5 pm to 9 pm") matched
    # GSM8K at 0.21 and 0.27, while 8 words of a GSM8K problem score about 0.26 (BENCHMARKS.md).
    zero_tolerance_min_risk: float = Field(default=0.0, ge=0.0, le=1.0)
    # Overrides the policy-wide ``flagged`` for this scope.
    flagged: Flagged | None = Field(default=None, strict=False)

    @model_validator(mode="after")
    def _sets_a_rule(self) -> ScopeRules:
        if self.max_flagged_share is None and self.max_risk is None and not self.zero_tolerance:
            raise ValueError("sets no rule; give max_flagged_share, max_risk or zero_tolerance")
        if self.zero_tolerance_min_risk and not self.zero_tolerance:
            raise ValueError("zero_tolerance_min_risk only applies with zero_tolerance = true")
        return self


class KindRules(BaseModel):
    model_config = _STRICT

    benchmark: ScopeRules | None = None
    copyright: ScopeRules | None = None


class GatePolicy(BaseModel):
    """A validated gate policy; build it with ``load_policy`` or ``GatePolicy.from_dict``."""

    model_config = _STRICT

    flagged: Flagged = Field(default=Flagged.REVIEW, strict=False)
    # A record the scan could not read was not checked, so by default the gate will not vouch
    # for a set that holds one. Raise this for sources known to carry some junk.
    max_rejected_share: float = Field(default=0.0, ge=0.0, le=1.0)
    overall: ScopeRules | None = None
    kinds: KindRules = Field(default_factory=KindRules)
    corpora: dict[str, ScopeRules] = Field(default_factory=dict)
    # Where the policy came from, so checks made later (against an index) can name the line.
    _path: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple[str, ...], int] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, *, path: Path | str | None = None) -> GatePolicy:
        """Validate a parsed policy; errors say which key is wrong (no line numbers here)."""
        return _validate(data, path, lines={})

    def scopes(self) -> list[tuple[str, ScopeRules]]:
        """Each configured scope with its rules, named as in the policy file."""
        named: list[tuple[str, ScopeRules]] = []
        if self.overall is not None:
            named.append(("overall", self.overall))
        for kind in ("benchmark", "copyright"):
            rules = getattr(self.kinds, kind)
            if rules is not None:
                named.append((f"kinds.{kind}", rules))
        named.extend((f"corpora.{name}", rules) for name, rules in self.corpora.items())
        return named

    def flagged_for(self, rules: ScopeRules) -> Flagged:
        return rules.flagged or self.flagged

    @property
    def path(self) -> Path | None:
        return self._path

    def check_corpora(self, known: Collection[str]) -> None:
        """Refuse rules for corpora the index does not hold: a typo would pass silently."""
        for name in self.corpora:
            if name not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise GatePolicyError(
                    self._path,
                    self._lines.get(("corpora", name)),
                    f"corpora.{name}: the index holds no corpus {name!r} (it holds: {listed})",
                )


def load_policy(path: Path | str) -> GatePolicy:
    """Read a ``.toml``, ``.yaml`` or ``.yml`` gate policy, or raise ``GatePolicyError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GatePolicyError(path, None, f"cannot read the policy: {exc}") from exc
    suffix = path.suffix.lower()
    if suffix == ".toml":
        data, lines = _parse_toml(path, text)
    elif suffix in (".yaml", ".yml"):
        data, lines = _parse_yaml(path, text)
    else:
        raise GatePolicyError(path, None, "a gate policy must be a .toml, .yaml or .yml file")
    return _validate(data, path, lines)


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def _parse_toml(path: Path, text: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        line = int(found.group(1)) if found else None
        if found:
            message = f"{_TOML_POSITION.sub('', message)} (column {found.group(2)})"
        raise GatePolicyError(path, line, f"TOML syntax error: {message}") from exc
    return data, toml_key_lines(text)


def _parse_yaml(path: Path, text: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    try:
        data = yaml.safe_load(text)
        lines = yaml_key_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise GatePolicyError(path, line, f"YAML syntax error: {problem}") from exc
    return ({} if data is None else data), lines


def _validate(data: Any, path: Path | str | None, lines: dict[tuple[str, ...], int]) -> GatePolicy:
    if not isinstance(data, dict):
        raise GatePolicyError(path, 1, "a gate policy must be a table of settings")
    try:
        policy = GatePolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(part) for part in first["loc"])
        raise GatePolicyError(path, _line_of(loc, lines), _describe(first, loc)) from exc
    policy._path = None if path is None else Path(path)
    policy._lines = lines
    return policy


def _line_of(loc: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    """The line of the deepest key we can place; a table's header line if the key is inline."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _allowed_keys(parent: tuple[str, ...]) -> list[str]:
    if not parent:
        return list(GatePolicy.model_fields)
    if parent == ("kinds",):
        return list(KindRules.model_fields)
    return list(ScopeRules.model_fields)


def _describe(error: dict[str, Any], loc: tuple[str, ...]) -> str:
    key = ".".join(loc) or "policy"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc[:-1]))
        hint = " (corpus kinds are benchmark and copyright)" if loc[:-1] == ("kinds",) else ""
        return f"unknown key {key!r}; expected one of: {allowed}{hint}"
    if kind == "value_error":
        return f"{key}: {error['msg'].removeprefix('Value error, ')}"
    if kind == "enum":
        return f"{key}: must be 'review' or 'remove', got {error['input']!r}"
    return f"{key}: {error['msg']} (got {error['input']!r})"
