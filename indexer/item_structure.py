"""Where a reference item's question ends, read from its text when the user did not say.

Most users bring a benchmark as ``{"id", "text"}`` lines. The index treats an item better when
it knows its structure: the prompt (what a model is asked, before any solution or answer) gets
a passage and a vector of its own and is the key that scoring measures, and a multiple-choice
stem must be on a page for a match to count. The catalog's loaders know this from each
benchmark's fields (``reference_corpora/loaders.py``); this module finds the same offsets in
the text those loaders produce, so that an unannotated corpus is indexed like an annotated one.
In order:

- multiple choice: the stem ends before its lettered options, the prompt after them;
- code (by content): the signature and docstring before the body (HumanEval), or the task
  text and its asserts before the program (MBPP);
- an answer line (``Answer: B``, ``A: (C)``, ``Solution:``) ends the prompt;
- a worked solution with a final answer (``#### 18``, ``\\boxed{13}``, ``The answer is 7``):
  the question is its leading lines, up to the first that asks or instructs;
- a question line followed by answer lines: the prompt ends after the question;
- one paragraph that asks nothing, its last sentence continuing the rest (HellaSwag's scene
  and ending): the prompt is the rest;
- anything else (a single question, an instruction) has no prompt: the whole item is the key.

``benchmarks/item_structure.py`` measures agreement with the loaders on every catalog
benchmark. Example::

    >>> infer_structure("What is 2 + 3?\\nA. 4\\nB. 5\\nAnswer: B")
    ItemStructure(code=False, prompt_end=24, stem_end=14)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from indexer.normalize import TextMode

STRUCTURE_KEYS = ("prompt_end", "stem_end")


@dataclass(frozen=True)
class ItemStructure:
    """What the text says about an item: whether it is code, and its prompt and stem ends
    (character offsets into the text; None when the item has no such part)."""

    code: bool
    prompt_end: int | None
    stem_end: int | None


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # end of the line's text, before its line break
    text: str


def _lines(text: str) -> list[_Line]:
    lines, start = [], 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        lines.append(_Line(start, start + len(body), body))
        start += len(raw)
    return lines


def _blank(pattern: re.Pattern[str], text: str) -> str:
    """``text`` with each match of ``pattern`` replaced by its line breaks alone."""
    return pattern.sub(lambda m: "\n" * m.group().count("\n"), text)


# --- code ------------------------------------------------------------------------------------

_STATEMENT = re.compile(
    r"""^\s*(?:
      (?:async\s+)?def\s+\w+\s*\( | class\s+\w+[(:] | import\s+\w | from\s+[\w.]+\s+import\s
    | return\b | yield\b | raise\b | assert\b | pass$ | break$ | continue$ | print\s*\(
    | (?:if|elif|else|for|while|with|try|except|finally)\b.*:\s*(?:\#.*)?$
    | \#include\b | \#define\b | @\w+
    | (?:public|private|static|const|let|var|function|func|fn|package|using|namespace)\s
    )""",
    re.X,
)
# Lines that are code in a program but also turn up in worked solutions ("David = B/2"):
# they count towards the share, but an item needs statements to be code.
_CODE_LIKE = re.compile(
    r"""^\s*(?:
      [A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:\s*,\s*[A-Za-z_]\w*)*\s*(?:[-+*/%|&^]|//|\*\*)?=(?!=)
    | [A-Za-z_][\w.]*\(.*\)\s*;?$
    | ['"]?\w+['"]?\s*:\s*\S+,$
    | [\]})]+[,;]?$
    )""",
    re.X,
)
# A line ending in ``{`` or ``;`` is C-like code, unless it is LaTeX (``\begin{align}``).
_BRACE_END = re.compile(r"^[^\\]*[{;]\s*$")
_TRIPLE_QUOTED = re.compile(r"(\"\"\"|''')[\s\S]*?\1")
# MATH draws its figures in Asymptote, a C-like language inside a word problem.
_ASYMPTOTE = re.compile(r"\[asy\][\s\S]*?\[/asy\]")
_COMMENT = re.compile(r"^\s*(?:#|//)")
_DEF_WITH_BODY = re.compile(r"^[ \t]*(?:async\s+)?def\s+\w+\s*\(.*:[ \t]*\r?\n[ \t]+\S", re.M)
# The smallest share of code lines (outside strings, comments and figures) that makes an item
# code: MBPP's items are one line of task text, three asserts and the program.
CODE_LINE_SHARE = 0.5


def _is_statement(line: str) -> bool:
    return bool(_STATEMENT.match(line) or _BRACE_END.match(line))


def _code_lines(text: str) -> tuple[int, int, int]:
    """Statements, other code-like lines, and all non-blank lines, outside triple-quoted
    strings, comments and figures."""
    blanked = _blank(_ASYMPTOTE, _blank(_TRIPLE_QUOTED, text))
    lines = [line.text for line in _lines(blanked) if line.text.strip()]
    lines = [line for line in lines if not _COMMENT.match(line)]
    statements = sum(_is_statement(line) for line in lines)
    code_like = sum(not _is_statement(line) and bool(_CODE_LIKE.match(line)) for line in lines)
    return statements, code_like, len(lines)


def looks_like_code(text: str) -> bool:
    """Whether the item is a program (or a task with its program), by its lines.

    A Python function with a body is code. Otherwise half of its lines outside docstrings,
    comments and figures must be code, some of them statements (``return``, ``for ...:``,
    ``import``, C-like lines): a worked solution full of ``x = 3`` lines is prose.
    """
    if _DEF_WITH_BODY.search(_blank(_ASYMPTOTE, text)):
        return True
    statements, code_like, total = _code_lines(text)
    return statements >= 2 and statements + code_like >= max(2, CODE_LINE_SHARE * total)


def infer_mode(texts: Iterable[str]) -> TextMode:
    """A corpus is code when most of its items are: it has one tokenization for all."""
    votes = [looks_like_code(text) for text in texts]
    return TextMode.CODE if votes and sum(votes) * 2 > len(votes) else TextMode.PROSE


# A docstring: a triple-quoted string on lines of its own, somewhere after a ``def``.
_DOCSTRING = re.compile(r"^[ \t]*[rRuU]?(\"\"\"|''')[\s\S]*?\1[ \t]*(?:\r?\n|$)", re.M)
_DEF = re.compile(r"^[ \t]*(?:async\s+)?def\s", re.M)


def _code_prompt_end(text: str) -> int | None:
    """The signature and docstring of the function the solution implements (HumanEval), or
    the leading task text and tests before the first line of the program (MBPP)."""
    first_def = _DEF.search(text)
    if first_def is not None:
        docstrings = [m for m in _DOCSTRING.finditer(text, first_def.end())]
        if docstrings:
            end = docstrings[-1].end()
            return end if text[end:].strip() else None
    lines = _lines(text)
    for number, line in enumerate(lines):
        stripped = line.text.strip()
        if not stripped or stripped.startswith("assert") or _COMMENT.match(line.text):
            continue
        if _is_statement(line.text) or _CODE_LIKE.match(line.text):
            before = text[: line.start].rstrip()
            return len(before) if before and number else None
    return None


# --- multiple choice -------------------------------------------------------------------------

_OPTION = re.compile(r"^\s*(?:\((?P<p>[A-Za-z])\)|(?P<l>[A-Za-z])[.):])\s+\S")
_BULLET = re.compile(r"^\s*[-*•]\s+\S")
_OPTIONS_HEADER = re.compile(r"^\s*(?:options|choices|answer choices)\s*:\s*$", re.I)
_ANSWER_LINE = re.compile(
    r"^\s*(?:\**(?:correct\s+|final\s+)?answers?\**\s*[:：]|A:\s|solution\s*[:：]|"
    r"explanation\s*[:：]|rationale\s*[:：]|(?:the\s+)?(?:correct\s+)?answer\s+is\b)",
    re.I,
)


@dataclass(frozen=True)
class _Options:
    """A run of lettered (or bulleted, under an "Options:" line) choices."""

    stem_end: int  # end of the text before the run (and its header)
    end: int  # end of the last choice


def _option_letter(line: str) -> str | None:
    match = _OPTION.match(line)
    return (match.group("p") or match.group("l")) if match else None


def _lettered_run(lines: list[_Line], first: int) -> int:
    """Index of the last line of the choices lettered A, B, C... from ``first``; an option
    may run over several lines (MMLU's code segments), up to a blank or an answer line."""
    letter = _option_letter(lines[first].text)
    if letter not in ("A", "a"):
        return first
    expected, letters, last = ord(letter) + 1, 1, first
    for number in range(first + 1, len(lines)):
        text = lines[number].text
        found = _option_letter(text)
        if found is not None and ord(found) == expected:
            expected, letters, last = expected + 1, letters + 1, number
        elif found is not None or not text.strip() or _ANSWER_LINE.match(text):
            break
        else:
            last = number
    return last if letters >= 2 else first


def _bulleted_run(lines: list[_Line], first: int) -> int:
    """Index of the last bullet of choices under an "Options:" line (BIG-Bench's yes/no)."""
    if not first or not _OPTIONS_HEADER.match(lines[first - 1].text):
        return first
    last = first - 1
    while last + 1 < len(lines) and _BULLET.match(lines[last + 1].text):
        last += 1
    return last if last > first else first


def _find_options(lines: list[_Line], text: str) -> _Options | None:
    """The last run of at least two choices, with the end of the stem before it."""
    found, number = None, 0
    while number < len(lines):
        last = max(_lettered_run(lines, number), _bulleted_run(lines, number))
        if last == number:
            number += 1
            continue
        first = number - 1 if number and _OPTIONS_HEADER.match(lines[number - 1].text) else number
        stem = len(text[: lines[first].start].rstrip())
        if stem:
            found = _Options(stem, lines[last].end)
        number = last + 1
    return found


# --- prose: answer lines, worked solutions ---------------------------------------------------

# The conclusion of a worked solution: GSM8K's "#### 18", MATH's \boxed{...}.
_FINAL_ANSWER = re.compile(
    r"^\s*####\s*\S|\\boxed\{|^(?:so,?\s+)?the (?:final )?answer is\b", re.I | re.M
)
# A sentence ends in a full stop, or in a formula or figure ("Solve for $x$: $x + 2 = 5$").
_SENTENCE_END = re.compile(r"(?:[.?!]|\$|\\\]|\\end\{[a-z]+\*?\}|\[/asy\])\W*$")
# What asks in a problem statement ("Find the angle between these lines, in degrees.",
# "For $0 \le x \le 40$, find the minimum value of"), and what only says how to answer
# ("Enter your answer as a single value."): both belong to the question.
_IMPERATIVES = (
    "find|compute|determine|evaluate|simplify|express|calculate|solve|show|prove|convert|factor|"
    "expand|list|identify|name|explain|describe|choose|select|complete"
)
_QUESTION_WORDS = "how|what|which|who|why|where|when"
_ASKS = re.compile(rf"(?:^|,\$?\s*|\bthen\s+)(?:{_IMPERATIVES})\b|^(?:{_QUESTION_WORDS})\b", re.I)
_ASKS_ANYWHERE = re.compile(rf"\b(?:{_IMPERATIVES}|{_QUESTION_WORDS})\b", re.I)
_HOW_TO_ANSWER = re.compile(r"^(?:enter|express|give|round|write your)\b", re.I)
_SENTENCES = re.compile(r"(?:(?<=[.?!])|(?<=[.?!]\$))\s+(?=[A-Z$\\])")
# Line breaks inside displayed math and figures are not where a question ends.
_DISPLAY = re.compile(
    r"\\\[[\s\S]*?\\\]|\$\$[\s\S]*?\$\$|\\begin\{([a-z]+\*?)\}[\s\S]*?\\end\{\1\}"
    r"|\[asy\][\s\S]*?\[/asy\]"
)


def _answer_line(lines: list[_Line], text: str) -> int | None:
    """End of the text before the first answer line that has a question before it."""
    for line in lines:
        if _ANSWER_LINE.match(line.text):
            before = len(text[: line.start].rstrip())
            if before:
                return before
    return None


def _leading_question(lines: list[_Line], text: str) -> int | None:
    """End of the question before a worked solution.

    The question runs to the first line break after a sentence that asks or instructs
    ("...?", "Find ..."), once that sentence is complete, and takes in a figure or a line on
    how to answer right after it; with no such sentence, to the first line break after a
    complete sentence. A displayed formula or figure belongs to the line it starts on.
    """
    displays = [m.span() for m in _DISPLAY.finditer(text)]
    cuts = [
        line.end
        for line in lines[:-1]
        if text[line.end :].strip() and not any(a < line.end < b for a, b in displays)
    ]
    blanked = _DISPLAY.sub(lambda m: " " * len(m.group()), text)
    segments = [blanked[a:b].strip() for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
    ends = [
        "?" in seg or bool(_SENTENCE_END.search(text[:cut]))
        for seg, cut in zip(segments, cuts, strict=True)
    ]
    asked = False
    for number, segment in enumerate(segments):
        asked = asked or "?" in segment or bool(_ASKS.search(_SENTENCES.split(segment)[-1]))
        if asked and ends[number]:
            while number + 1 < len(segments) and (
                not segments[number + 1] or _HOW_TO_ANSWER.match(segments[number + 1])
            ):
                number += 1
            return cuts[number]
    return next((cut for cut, done in zip(cuts, ends, strict=True) if done), None)


_ENDS_IN_QUESTION = re.compile(r"\?[\"'”’)\]]*\s*$")


def _question_line(lines: list[_Line], text: str) -> int | None:
    """End of the last line ending in "?" that answer lines follow ("What is X?\\nY"); a
    figure, a formula or a line on how to answer after it is still the question."""
    blanked = _DISPLAY.sub(lambda m: " " * len(m.group()), text)
    for line in reversed(lines[:-1]):
        if _ENDS_IN_QUESTION.search(line.text):
            rest = blanked[line.end :].strip()
            return line.end if rest and not _HOW_TO_ANSWER.match(rest) else None
    return None


# A sentence break, not after a title or a common abbreviation ("Mr. Julius").
_SENTENCE_BREAK = re.compile(
    r"(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bvs)(?<!\bNo)(?<!\be\.g)(?<!\bi\.e)"
    r"(?<=[.!])([\"')]*)\s+(?=\S)"
)
# A context must be most of the item and more than a phrase.
CONTEXT_MIN_SHARE = 0.4
CONTEXT_MIN_WORDS = 8


def _trailing_continuation(text: str) -> int | None:
    """End of the context before a last sentence that continues it (HellaSwag: a scene, then
    how it goes on), in one paragraph that neither asks nor instructs anything: a question or
    an instruction is what is asked, and a single sentence is all key."""
    stripped = text.strip()
    if "?" in stripped or "\n" in stripped or "$" in stripped:
        return None
    breaks = [m.end(1) for m in _SENTENCE_BREAK.finditer(stripped)]
    if not breaks:
        return None
    sentences = [
        stripped[a:b].strip() for a, b in zip([0, *breaks], [*breaks, len(stripped)], strict=True)
    ]
    if any(_ASKS.match(sentence) for sentence in sentences) or _ASKS_ANYWHERE.search(sentences[-1]):
        return None
    end = breaks[-1]
    if len(stripped[:end].split()) < CONTEXT_MIN_WORDS or end < CONTEXT_MIN_SHARE * len(stripped):
        return None
    return text.index(stripped) + end


# --- the item --------------------------------------------------------------------------------


def infer_structure(text: str) -> ItemStructure:
    """Whether ``text`` is code, and where its prompt and multiple-choice stem end."""
    code = looks_like_code(text)
    lines = _lines(text)
    options = _find_options(lines, text)
    stem_end = None
    if options is not None:
        prompt_end, stem_end = options.end, options.stem_end
    elif code:
        prompt_end = _code_prompt_end(text)
    else:
        prompt_end = _answer_line(lines, text)
        if prompt_end is None:
            prompt_end = (
                _leading_question(lines, text)
                if _FINAL_ANSWER.search(text)
                else _question_line(lines, text) or _trailing_continuation(text)
            )
    if prompt_end is not None and not text[prompt_end:].strip():
        prompt_end = None
    return ItemStructure(code, prompt_end, stem_end)


def with_inferred_structure(meta: Mapping[str, Any], text: str) -> dict[str, Any]:
    """``meta`` with ``prompt_end``/``stem_end`` read from the text where it lacks them.

    What the user gave always wins, ``null`` included (the item has no such part). An
    inferred offset that would put the stem after the prompt is dropped rather than
    contradict a given one.
    """
    result = dict(meta)
    missing = [key for key in STRUCTURE_KEYS if key not in result]
    if not missing:
        return result
    inferred = infer_structure(text)
    for key in missing:
        value = getattr(inferred, key)
        if value is not None:
            result[key] = value
    prompt_end, stem_end = result.get("prompt_end"), result.get("stem_end")
    if isinstance(prompt_end, int) and isinstance(stem_end, int) and stem_end > prompt_end:
        del result[missing[0]]  # the inferred one: inferred pairs never conflict
    return result
