"""Where each key of a policy file is written, so a validation error can name its line.

tomllib returns plain dicts without positions, so TOML keys are located by reading table
headers and ``key =`` lines; PyYAML's node graph carries marks, so YAML keys are exact.
"""

from __future__ import annotations

import re

import yaml

_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY_PART)


def _split_dotted(dotted: str) -> tuple[str, ...]:
    parts = []
    for raw in _PART.findall(dotted):
        if raw[:1] in "\"'":
            raw = raw[1:-1]
        parts.append(raw)
    return tuple(parts)


def toml_key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path (``("kinds", "benchmark", "max_risk")``) to its 1-based line."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_dotted(header.group(1))
            for end in range(1, len(table) + 1):
                lines.setdefault(table[:end], number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            key = table + _split_dotted(assign.group(1))
            for end in range(len(table) + 1, len(key) + 1):
                lines.setdefault(key[:end], number)
    return lines


def yaml_key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path to its 1-based line, from PyYAML's node marks."""
    lines: dict[tuple[str, ...], int] = {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            key = (*path, str(key_node.value))
            lines.setdefault(key, key_node.start_mark.line + 1)
            walk(value_node, key)

    if root is not None:
        walk(root, ())
    return lines
