"""How reference text shows up in the wild: re-wrapped, re-cased, edited, reworded, OCR'd.

These transformations build the evaluation suite (``reference_corpora.suite``) and the
constructed training pairs of the paraphrase verifier. Each takes a seeded ``random.Random``
so every suite is reproducible. The rewording generators are deliberately several unrelated
families (vocabulary, structure, templates, renaming, noise): a verifier fitted on one of them
and tested on the others shows whether it learned "same item" or one generator's habits.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import random
import re
import textwrap

# --- verbatim-tier variants ------------------------------------------------------------------


def rewrap(text: str, rng: random.Random) -> str:
    """Re-flow every paragraph to a random width, as mail clients and PDF extractors do."""
    width = rng.randint(30, 70)
    paragraphs = re.split(r"\n\s*\n", text)
    return "\n\n".join(textwrap.fill(" ".join(p.split()), width=width) for p in paragraphs)


def recase(text: str, rng: random.Random) -> str:
    style = rng.choice(("upper", "lower", "title"))
    return {"upper": text.upper(), "lower": text.lower(), "title": text.title()}[style]


def markdown(text: str, rng: random.Random) -> str:
    """Markdown decoration: a bold first line, bulleted option lines, a heading."""
    lines = text.split("\n")
    lines[0] = f"**{lines[0].strip()}**"
    decorated = [("- " + line) if re.match(r"^[A-J][.)] ", line) else line for line in lines]
    return f"### Question {rng.randint(1, 99)}\n\n" + "\n".join(decorated)


_FILLERS = ("really", "actually", "also", "just", "then", "now", "still")


def light_edit(text: str, rng: random.Random, rate: float = 0.06) -> str:
    """About one word in sixteen dropped, duplicated, swapped or given a filler neighbour."""
    words = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if rng.random() >= rate or not word.strip():
            out.append(word)
            i += 1
            continue
        action = rng.choice(("drop", "filler", "swap", "typo"))
        if action == "drop":
            pass
        elif action == "filler":
            out.extend([word, rng.choice(_FILLERS)])
        elif action == "swap" and i + 1 < len(words):
            out.extend([words[i + 1], word])
            i += 1
        else:
            out.append(_typo(word, rng))
        i += 1
    return " ".join(out)


def _typo(word: str, rng: random.Random) -> str:
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if len(letters) < 3:
        return word
    i = rng.choice(letters[1:])
    return word[:i] + word[i + 1 :]


# --- rewording generators --------------------------------------------------------------------

SYNONYMS = {
    "buy": ["purchase", "get"],
    "buys": ["purchases", "gets"],
    "bought": ["purchased", "got"],
    "sell": ["offer", "trade"],
    "sells": ["offers", "trades"],
    "sold": ["traded", "offered"],
    "make": ["earn", "produce"],
    "makes": ["earns", "produces"],
    "each": ["every", "per"],
    "total": ["overall", "combined"],
    "remainder": ["rest", "leftover"],
    "rest": ["remainder"],
    "friends": ["pals", "companions"],
    "money": ["cash", "funds"],
    "price": ["cost"],
    "cost": ["price"],
    "costs": ["is priced at"],
    "store": ["shop"],
    "shop": ["store"],
    "half": ["fifty percent"],
    "twice": ["two times"],
    "begins": ["starts"],
    "starts": ["begins"],
    "wants": ["would like", "hopes"],
    "needs": ["requires"],
    "uses": ["utilizes", "employs"],
    "gives": ["hands", "provides"],
    "large": ["big"],
    "big": ["large"],
    "small": ["little"],
    "little": ["small"],
    "quickly": ["fast", "rapidly"],
    "important": ["significant", "crucial"],
    "show": ["demonstrate", "indicate"],
    "shows": ["demonstrates", "indicates"],
    "find": ["determine", "work out"],
    "calculate": ["compute", "work out"],
    "following": ["subsequent", "listed"],
    "best": ["most accurately"],
    "describes": ["characterizes"],
    "likely": ["probable"],
    "increase": ["rise", "growth"],
    "decrease": ["drop", "decline"],
    "because": ["since", "as"],
    "however": ["but", "yet"],
    "also": ["additionally"],
    "about": ["regarding", "around"],
    "house": ["home"],
    "car": ["vehicle", "automobile"],
    "children": ["kids"],
    "kids": ["children"],
    "people": ["persons", "individuals"],
    "returns": ["gives back", "outputs"],
    "return": ["give back", "output"],
    "list": ["sequence", "array"],
    "given": ["provided"],
    "number": ["value", "integer"],
    "numbers": ["values"],
    "string": ["text"],
    "check": ["determine", "verify"],
    "whether": ["if"],
    "function": ["routine", "method"],
    "write": ["implement", "create"],
    "element": ["item"],
    "elements": ["items"],
    "happens": ["occurs"],
    "eat": ["consume", "swallow"],
    "old": ["aged"],
    "said": ["stated", "remarked"],
    "went": ["headed", "traveled"],
    "looked": ["glanced", "gazed"],
    "began": ["started"],
    "came": ["arrived"],
    "saw": ["noticed", "spotted"],
}

FIRST_NAMES = [
    "Amara",
    "Bastian",
    "Chloe",
    "Dmitri",
    "Esther",
    "Farid",
    "Greta",
    "Hiro",
    "Ingrid",
    "Jonas",
    "Keiko",
    "Luca",
    "Marisol",
    "Nadia",
    "Oskar",
    "Priyanka",
]

_NUMBER_NAMES = {
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
    "10": "ten",
    "12": "twelve",
    "20": "twenty",
}
_NUMBER_DIGITS = {v: k for k, v in _NUMBER_NAMES.items()}


def swap_vocabulary(text: str, rng: random.Random, rate: float = 0.6) -> str:
    """Replace words with synonyms and small numbers with their names (or back)."""

    def replace(match: re.Match[str]) -> str:
        word = match.group()
        lower = word.lower()
        if lower in SYNONYMS and rng.random() < rate:
            new = rng.choice(SYNONYMS[lower])
        elif word in _NUMBER_NAMES and rng.random() < 0.5:
            new = _NUMBER_NAMES[word]
        elif lower in _NUMBER_DIGITS and rng.random() < 0.5:
            new = _NUMBER_DIGITS[lower]
        else:
            return word
        return new.capitalize() if word[0].isupper() else new

    # Numbers only when they stand alone: "2.0" and "$2" keep their digits.
    return re.sub(r"[A-Za-z]+|(?<![\d.$])\d+(?![\d.])", replace, text)


def rename_people(text: str, rng: random.Random) -> str:
    """Give the people of a word problem other names, consistently.

    A name is a capitalized word that is not a common English word ("She", "The", "How").
    """
    from wordfreq import zipf_frequency

    words = set(re.findall(r"\b[A-Z][a-z]{2,}\b", text))
    names = sorted(
        w for w in words if zipf_frequency(w.lower(), "en") < 4.6 and w.lower() not in text
    )
    pool = [n for n in FIRST_NAMES if n not in names]
    rng.shuffle(pool)
    mapping = dict(zip(names, pool, strict=False))
    if not mapping:
        return text
    return re.sub(
        r"\b(" + "|".join(map(re.escape, mapping)) + r")\b", lambda m: mapping[m.group()], text
    )


def reorder_sentences(text: str, rng: random.Random) -> str:
    """Shuffle the statements of a problem, keeping its question (last sentence) last."""
    sentences = re.split(r"(?<=[.!])\s+", text.strip())
    if len(sentences) < 3:
        return text
    body, last = sentences[:-1], sentences[-1]
    rng.shuffle(body)
    return " ".join([*body, last])


_DISTRACTORS = (
    "The weather that week was unusually warm for the season.",
    "Nobody remembers exactly when the tradition started.",
    "It is worth noting that the shop closes early on Sundays.",
    "This detail does not change anything about the question.",
    "Many people find this kind of puzzle surprisingly relaxing.",
)


def add_distractor(text: str, rng: random.Random) -> str:
    """Insert an irrelevant sentence between two sentences of the item."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    position = rng.randint(1, max(1, len(sentences) - 1))
    sentences.insert(position, rng.choice(_DISTRACTORS))
    return " ".join(sentences)


_QUESTION_TEMPLATES = (
    (
        r"^How many (.+)\?$",
        ["What is the number of {0}?", "Can you work out how many {0}?", "Determine how many {0}."],
    ),
    (r"^How much (.+)\?$", ["What amount {0}?", "Figure out how much {0}."]),
    (r"^What is (.+)\?$", ["Can you tell me what {0} is?", "Identify {0}."]),
    (
        r"^Which of the following (.+)\?$",
        ["Among the options below, which {0}?", "Which option {0}?"],
    ),
    (r"^Why (.+)\?$", ["For what reason {0}?", "What explains why {0}?"]),
)


def retemplate_question(text: str, rng: random.Random) -> str:
    """Reword the question sentence with another template, as a rephrasing model would."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    for i in range(len(sentences) - 1, -1, -1):
        for pattern, templates in _QUESTION_TEMPLATES:
            match = re.match(pattern, sentences[i])
            if match:
                sentences[i] = rng.choice(templates).format(match.group(1))
                return " ".join(sentences)
    return text


def shuffle_choices(text: str, rng: random.Random) -> str:
    """Reorder lettered choices and re-letter them in another style."""
    lines = text.split("\n")
    choice_rows = [i for i, line in enumerate(lines) if re.match(r"^[A-J][.)] ", line)]
    if len(choice_rows) < 2:
        return text
    choices = [re.sub(r"^[A-J][.)] ", "", lines[i]) for i in choice_rows]
    rng.shuffle(choices)
    style = rng.choice(("({0}) ", "{0}) ", "{0}: "))
    letters = "abcdefghij" if rng.random() < 0.5 else "ABCDEFGHIJ"
    for k, row in enumerate(choice_rows):
        lines[row] = style.format(letters[k]) + choices[k]
    return "\n".join(line for line in lines if not line.startswith("Answer:"))


_KEEP = (
    set(keyword.kwlist)
    | set(dir(builtins))
    | {"self", "cls", "List", "Tuple", "Dict", "Optional", "typing"}
)


def _defined_names(code: str) -> set[str]:
    """Names the code itself defines: functions, parameters, assigned and loop variables."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(re.findall(r"\bdef\s+([A-Za-z_]\w*)", code))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names - _KEEP


def rename_identifiers(code: str, rng: random.Random) -> str:
    """Rename the function, its parameters and locals consistently (not keywords/builtins)."""
    stems = ["val", "item", "acc", "res", "tmp", "data", "cur", "idx", "seq", "elem", "out", "buf"]
    mapping = {
        name: f"{rng.choice(stems)}_{rng.randint(1, 99)}" for name in sorted(_defined_names(code))
    }
    if not mapping:
        return code
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")
    return pattern.sub(lambda m: mapping[m.group()], code)


def reword_docstring(code: str, rng: random.Random) -> str:
    """Reword the prose inside docstrings and comments, leaving the code alone."""

    def reword(match: re.Match[str]) -> str:
        return swap_vocabulary(match.group(), rng, rate=0.8)

    return re.sub(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|#[^\n]*', reword, code)


_ARCHAIC = {
    "today": "to-day",
    "tomorrow": "to-morrow",
    "connection": "connexion",
    "show": "shew",
    "showed": "shewed",
    "public": "publick",
    "music": "musick",
    "color": "colour",
    "honor": "honour",
    "though": "tho'",
    "ever": "e'er",
    "over": "o'er",
}
_OCR = (("m", "rn"), ("l", "1"), ("e", "c"), ("h", "li"), ("o", "0"), ("i", "l"), ("d", "cl"))


def ocr_noise(text: str, rng: random.Random, rate: float = 0.03) -> str:
    """Character confusions of OCR (m/rn, l/1, e/c ...) and broken line-end hyphenation."""
    out = []
    for ch in text:
        if ch.isalpha() and rng.random() < rate:
            swaps = [b for a, b in _OCR if a == ch]
            out.append(rng.choice(swaps) if swaps else ch)
        else:
            out.append(ch)
    noisy = "".join(out)
    return re.sub(
        r"(\w{4,})(\w{3,})",
        lambda m: m.group(1) + "-\n" + m.group(2) if rng.random() < 0.02 else m.group(),
        noisy,
    )


def archaic_spelling(text: str, rng: random.Random) -> str:
    """Another edition's spelling: to-day, connexion, shew, colour ..."""

    def replace(match: re.Match[str]) -> str:
        word = match.group()
        new = _ARCHAIC.get(word.lower())
        if new is None or rng.random() < 0.2:
            return word
        return new.capitalize() if word[0].isupper() else new

    return re.sub(r"[A-Za-z]+", replace, text)
