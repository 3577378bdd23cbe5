"""The evaluation suite: real reference items hidden in real web pages, and hard negatives.

Tests build a small suite, ``benchmarks/quality.py`` and ``benchmarks/paraphrase.py`` larger
ones, and the paraphrase verifier is trained on a suite with other seeds and other items, all
from ``../shared/data``. A case is one document with the reference items it must (or must
not) be flagged for; everything is drawn with a seeded RNG, so a suite is reproducible.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from indexer.corpus import Corpus, CorpusKind, ReferenceItem, read_text_works
from indexer.normalize import tokenize
from reference_corpora import transforms as T
from reference_corpora.catalog import data_dir, read_catalog

Transform = Callable[[str, random.Random], str]

# Books split into indexed works and same-era works that are not indexed.
BOOKS_INDEXED = (
    "books_11-0.txt",
    "books_1952-0.txt",
    "books_120-0.txt",
    "books_2852-0.txt",
    "books_219-0.txt",
    "books_46-0.txt",
)
BOOKS_OUTSIDE = (
    "books_35-0.txt",
    "books_41-0.txt",
    "books_43-0.txt",
    "books_244-0.txt",
    "books_308-0.txt",
    "books_36-0.txt",
)
MMLU_SUBJECTS = (
    "high_school_biology",
    "high_school_us_history",
    "professional_law",
    "college_medicine",
    "high_school_macroeconomics",
    "philosophy",
    "computer_security",
    "nutrition",
    "astronomy",
    "world_religions",
)


MIN_ITEM_WORDS = 4  # the indexer fingerprints items of at least min_item_tokens (4) words


@dataclass(frozen=True)
class Case:
    """One document to scan and what a correct scanner says about it."""

    category: str
    doc_id: str
    text: str
    # (corpus, ref_id) pairs that must be flagged; empty for a negative case.
    expected: tuple[tuple[str, str], ...] = ()
    # Character span of the hidden text in ``text`` (None for negatives).
    span: tuple[int, int] | None = None

    @property
    def positive(self) -> bool:
        return bool(self.expected)


@dataclass
class SuiteData:
    """Everything a suite draws from, loaded once."""

    root: Path
    haystack: list[str]
    clean_web: list[str]
    corpora: dict[str, Corpus] = field(default_factory=dict)
    negatives: dict[str, list[ReferenceItem]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path | None = None) -> SuiteData:
        root = root or data_dir()
        catalog = read_catalog()
        data = cls(
            root=root,
            haystack=read_web(root / "web" / "llamafactory_c4_demo_300.jsonl"),
            clean_web=read_web(root / "web" / "c4_sample_1000.jsonl"),
        )
        for name in ("gsm8k-test", "humaneval", "truthfulqa"):
            data.corpora[name] = catalog[name].load(root)
        mmlu = catalog["mmlu-test"].load(root)
        in_subjects = [it for it in mmlu.items if it.meta.get("subject") in MMLU_SUBJECTS]
        # Even rows of each subject are indexed; odd rows are same-subject hard negatives.
        indexed = [it for it in in_subjects if int(it.id.split("/")[1]) % 2 == 0]
        data.corpora["mmlu-test"] = Corpus(
            "mmlu-test", CorpusKind.BENCHMARK, indexed, source=mmlu.source, license=mmlu.license
        )
        others = [it for it in in_subjects if int(it.id.split("/")[1]) % 2]
        near = near_duplicates(others, indexed)
        # Same-subject questions that are near-copies of an indexed one (MMLU repeats scenarios
        # with one word changed, and asks several questions about one passage) are ambiguous;
        # they are reported as their own category, not counted as clean hard negatives.
        data.negatives["mmlu-other"] = [it for it in others if it.id not in near]
        data.negatives["mmlu-near-duplicate"] = [it for it in others if it.id in near]
        data.corpora["books"] = _books(root, BOOKS_INDEXED, "books")
        data.negatives["books-outside"] = _books(root, BOOKS_OUTSIDE, "outside").items
        data.negatives["gsm8k-train"] = catalog["gsm8k-train"].load(root).items
        data.negatives["mbpp"] = catalog["mbpp"].load(root).items
        return data

    def index_corpora(self) -> list[Corpus]:
        return list(self.corpora.values())


def near_duplicates(
    candidates: list[ReferenceItem],
    indexed: list[ReferenceItem],
    cutoff: float = 0.6,
    shared_words: int = 12,
) -> set[str]:
    """Ids of candidates whose key is a near-copy of an indexed item's key, or holds a
    sentence of it verbatim.

    Near-copy: rapidfuzz Indel similarity of the normalized keys of at least ``cutoff``
    (MMLU repeats law scenarios with other names and one changed clause), compared within the
    same subject. Shared sentence: ``shared_words`` consecutive words of an indexed item's key
    (MMLU asks several questions about one scenario or quoted passage; a page holding the other
    question holds that part of the test item too, and finding it there is not an error).
    """
    from rapidfuzz import fuzz, process

    def key(item: ReferenceItem) -> str:
        end = item.meta.get("prompt_end") if item.meta else None
        return " ".join(tokenize(item.text[: end if isinstance(end, int) else None]).tokens)

    def runs(text: str) -> set[tuple[str, ...]]:
        words = text.split()
        return {tuple(words[i : i + shared_words]) for i in range(len(words) - shared_words + 1)}

    indexed_runs = set().union(*(runs(key(it)) for it in indexed))
    found: set[str] = {it.id for it in candidates if runs(key(it)) & indexed_runs}
    subjects = {it.meta.get("subject") for it in candidates}
    for subject in subjects:
        mine = [it for it in candidates if it.meta.get("subject") == subject]
        theirs = [key(it) for it in indexed if it.meta.get("subject") == subject]
        if not mine or not theirs:
            continue
        scores = process.cdist(
            [key(it) for it in mine],
            theirs,
            scorer=fuzz.ratio,
            score_cutoff=cutoff * 100,
            workers=-1,
        )
        found |= {it.id for it, row in zip(mine, scores, strict=True) if row.max() > 0}
    return found


def read_web(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def _books(root: Path, files: tuple[str, ...], name: str) -> Corpus:
    items = [read_text_works(root / "books" / f, name=name).items[0] for f in files]
    return Corpus(name=name, kind=CorpusKind.COPYRIGHT, items=items, source=str(root / "books"))


def hide(text: str, haystack: str, rng: random.Random) -> tuple[str, tuple[int, int]]:
    """Put ``text`` between two paragraphs (or sentences) of a web page."""
    cuts = [m.end() for m in re.finditer(r"\n|(?<=[.!?]) ", haystack)] or [len(haystack)]
    cut = rng.choice(cuts)
    before, after = haystack[:cut].rstrip(), haystack[cut:].lstrip()
    start = len(before) + 1
    doc = f"{before}\n{text}\n{after}"
    return doc, (start, start + len(text))


def book_passage(work: ReferenceItem, rng: random.Random, words: tuple[int, int]) -> str:
    """A run of whole sentences of about ``words`` words from a random place in a work."""
    text = work.text
    start = rng.randrange(len(text) // 10, max(len(text) * 9 // 10, len(text) // 10 + 1))
    sentence_start = text.find(". ", start) + 2
    target = rng.randint(*words)
    chunk = text[sentence_start : sentence_start + target * 12]
    cut = " ".join(chunk.split()[:target])
    end = cut.rfind(". ")
    return cut[: end + 1] if end > len(cut) // 2 else cut


def in_part(item: ReferenceItem, part: str | None) -> bool:
    """Stable halves of every corpus: the verifier trains on "train", benchmarks use "eval"."""
    if part is None:
        return True
    half = zlib.crc32(item.id.encode("utf-8")) % 2
    return half == (0 if part == "train" else 1)


class SuiteBuilder:
    """Draws cases for named categories from ``SuiteData`` with one seeded RNG.

    ``part`` restricts every draw to one stable half of each corpus ("train" or "eval").
    """

    def __init__(self, data: SuiteData, seed: int = 0, part: str | None = None):
        self.data = data
        self.rng = random.Random(seed)
        self.part = part

    def _doc(
        self, category: str, number: int, text: str, expected: tuple[tuple[str, str], ...]
    ) -> Case:
        haystack = self.rng.choice(self.data.haystack)
        doc, span = hide(text, haystack, self.rng)
        return Case(category, f"{category}-{number}", doc, expected, span if expected else None)

    def _items(self, corpus: str, count: int) -> list[ReferenceItem]:
        # Items under four words ("Who are you?") are everyday phrases, not attributable copies.
        items = [
            it
            for it in self.data.corpora[corpus].items
            if in_part(it, self.part) and len(tokenize(it.text)) >= MIN_ITEM_WORDS
        ]
        return self.rng.sample(items, min(count, len(items)))

    def hidden_items(
        self,
        category: str,
        corpora: tuple[str, ...],
        count: int,
        transform: Transform | None = None,
        prompt_only: bool = False,
    ) -> list[Case]:
        """Items of ``corpora`` (round robin), transformed, each hidden in a web page."""
        cases = []
        for number in range(count):
            corpus = corpora[number % len(corpora)]
            item = self._items(corpus, 1)[0]
            text = item.text
            if prompt_only and isinstance(item.meta.get("prompt_end"), int):
                text = text[: item.meta["prompt_end"]]
            if transform is not None:
                text = transform(text, self.rng)
            cases.append(self._doc(category, number, text, ((corpus, item.id),)))
        return cases

    def book_passages(
        self,
        category: str,
        count: int,
        transform: Transform | None = None,
        words: tuple[int, int] = (80, 250),
    ) -> list[Case]:
        cases = []
        # Works are few: their halves are halves of each work's text, not of the works.
        works = self.data.corpora["books"].items
        for number in range(count):
            work = self.rng.choice(works)
            text = book_passage(work, self.rng, words)
            if transform is not None:
                text = transform(text, self.rng)
            cases.append(self._doc(category, number, text, (("books", work.id),)))
        return cases

    def negatives(
        self, category: str, count: int, transform: Transform | None = None
    ) -> list[Case]:
        """Hard negatives: items of the same style that are not in the index, hidden likewise."""
        if category == "clean-web":
            docs = self.rng.sample(self.data.clean_web, min(count, len(self.data.clean_web)))
            return [Case(category, f"{category}-{i}", d) for i, d in enumerate(docs)]
        pool = [it for it in self.data.negatives[category] if in_part(it, self.part)]
        cases = []
        for number in range(count):
            item = self.rng.choice(pool)
            text = (
                book_passage(item, self.rng, (80, 250))
                if category == "books-outside"
                else item.text
            )
            if transform is not None:
                text = transform(text, self.rng)
            cases.append(self._doc(category, number, text, ()))
        return cases

    def every_negative(
        self, category: str, label: str, transform: Transform | None = None
    ) -> list[Case]:
        """Every item of a hard-negative set (in this builder's part), once, hidden likewise."""
        if category == "clean-web":
            return [Case(label, f"{label}-{i}", d) for i, d in enumerate(self.data.clean_web)]
        pool = [it for it in self.data.negatives[category] if in_part(it, self.part)]
        return [
            self._doc(label, n, transform(it.text, self.rng) if transform else it.text, ())
            for n, it in enumerate(pool)
        ]


def compose(*steps: Transform) -> Transform:
    def run(text: str, rng: random.Random) -> str:
        for step in steps:
            text = step(text, rng)
        return text

    return run


def verbatim_suite(data: SuiteData, per_category: int, negatives: int, seed: int = 0) -> list[Case]:
    """Issue 2's categories: verbatim, re-wrapped, re-cased, edited, short items, book passages."""
    b = SuiteBuilder(data, seed)
    items = ("gsm8k-test", "mmlu-test", "humaneval")
    prose = ("gsm8k-test", "mmlu-test")
    return [
        *b.hidden_items("verbatim", items, per_category),
        *b.hidden_items("rewrapped", prose, per_category, T.rewrap),
        *b.hidden_items("recased", prose, per_category, T.recase),
        *b.hidden_items("markdown", prose, per_category, T.markdown),
        *b.hidden_items("lightly-edited", prose, per_category, T.light_edit),
        *b.hidden_items("short", ("truthfulqa",), per_category),
        *b.book_passages("book-passage", per_category),
        *b.negatives("clean-web", negatives * 4),
        *b.negatives("gsm8k-train", negatives),
        *b.negatives("mbpp", negatives),
        *b.negatives("mmlu-other", negatives),
        *b.negatives("mmlu-near-duplicate", negatives // 4),
        *b.negatives("books-outside", negatives),
    ]


# Rewording generator families; benchmarks report each separately.
REWORDINGS: dict[str, Transform] = {
    "vocabulary": compose(T.swap_vocabulary, T.rename_people),
    "structure": compose(T.reorder_sentences, T.add_distractor),
    "template": compose(T.retemplate_question, T.swap_vocabulary),
    # Every family at once: word order, vocabulary, names and question form all change, as in
    # a rephrasing by a language model; little of the original n-gram structure is left.
    "heavy": compose(
        T.retemplate_question, T.reorder_sentences, T.swap_vocabulary, T.rename_people
    ),
}


def paraphrase_suite(
    data: SuiteData, per_category: int, negatives: int, seed: int = 1, part: str | None = "eval"
) -> list[Case]:
    """Issue 3's categories: reworded items, renamed code, reordered choices, other editions."""
    b = SuiteBuilder(data, seed, part)
    math_mc = ("gsm8k-test", "mmlu-test")
    cases = [
        b.hidden_items(f"reworded-{name}", math_mc, per_category, transform, prompt_only=True)
        for name, transform in REWORDINGS.items()
    ]
    return [
        *(case for group in cases for case in group),
        *b.hidden_items(
            "choices-shuffled",
            ("mmlu-test",),
            per_category,
            compose(T.shuffle_choices, T.swap_vocabulary),
        ),
        *b.hidden_items(
            "code-renamed",
            ("humaneval",),
            per_category,
            compose(T.rename_identifiers, T.reword_docstring),
        ),
        *b.hidden_items(
            "short-reworded",
            ("truthfulqa",),
            per_category,
            compose(T.retemplate_question, T.swap_vocabulary),
        ),
        *b.book_passages(
            "book-edition",
            per_category,
            compose(T.archaic_spelling, T.ocr_noise, T.swap_vocabulary),
        ),
        *b.negatives("clean-web", negatives * 4),
        *b.negatives("gsm8k-train", negatives, REWORDINGS["vocabulary"]),
        *b.negatives("mbpp", negatives),
        *b.negatives("mmlu-other", negatives),
        *b.negatives("books-outside", negatives),
    ]


def training_suite(data: SuiteData, per_category: int, negatives: int, seed: int = 7) -> list[Case]:
    """The paraphrase verifier's training documents: the "train" half, other seeds.

    Negatives get the same rewordings as positives, so that "was reworded" cannot be learned
    as a sign of "is a copy".
    """
    cases = paraphrase_suite(data, per_category, negatives, seed=seed, part="train")
    b = SuiteBuilder(data, seed + 1, part="train")
    for transform in REWORDINGS.values():
        cases += b.negatives("gsm8k-train", negatives // 2, transform)
        cases += b.negatives("mmlu-other", negatives // 2, transform)
    cases += b.negatives("mbpp", negatives // 2, compose(T.rename_identifiers, T.reword_docstring))
    cases += b.negatives("books-outside", negatives // 2, compose(T.archaic_spelling, T.ocr_noise))
    # Categories recur (a negative category once per rewording): number the documents anew so
    # that every id names one document, as the verifier's per-document split needs.
    return [replace(case, doc_id=f"{case.category}-{n}") for n, case in enumerate(cases)]


def whole_negative_sets(data: SuiteData, seed: int = 2) -> list[Case]:
    """Every "eval"-half item of the hard-negative sets once (and every clean page), for false
    positive rates that a sample of 100 cannot pin down to the 1% the targets are stated in.
    GSM8K train problems get the vocabulary rewording, as in ``paraphrase_suite``."""
    b = SuiteBuilder(data, seed, part="eval")
    return [
        *b.every_negative("clean-web", "every-clean-web"),
        *b.every_negative("gsm8k-train", "every-gsm8k-train", REWORDINGS["vocabulary"]),
        *b.every_negative("mbpp", "every-mbpp"),
        *b.every_negative("mmlu-other", "every-mmlu-other"),
    ]


def calibration_suite(data: SuiteData, seed: int = 9) -> list[Case]:
    """Documents that place the verifier's thresholds and are never fitted on: every
    "train"-half item of the hard-negative sets, once, in a page (GSM8K train problems
    reworded, as among the training negatives). A 0.5% tail needs thousands of documents;
    the training suite draws a few hundred per mode."""
    mbpp = SuiteBuilder(data, seed, part="train").every_negative("mbpp", "calibration-mbpp")
    b = SuiteBuilder(data, seed + 1, part="train")
    return [
        *mbpp,
        *b.every_negative("mmlu-other", "calibration-mmlu-other"),
        *b.every_negative("gsm8k-train", "calibration-gsm8k-train", REWORDINGS["vocabulary"]),
    ]


HANDWRITTEN = Path(__file__).parent / "samples" / "handwritten_rephrasings.jsonl"
# More rephrasings by hand, of items of one stable half each (``in_part``): the "train" set is
# for fitting the paraphrase verifier, the "eval" set a second held-out check beside the
# fixed set above, whose items it never repeats.
HANDWRITTEN_TRAIN = HANDWRITTEN.with_name("handwritten_rephrasings_train.jsonl")
HANDWRITTEN_EVAL = HANDWRITTEN.with_name("handwritten_rephrasings_eval.jsonl")
# A third check, in the styles third-party rewordings use (choices rewritten, reordered and
# relabelled; renamed code with a rewritten docstring; terse, verbose, question-first): items
# of the "train" half that no other set rewords, never used to fit the verifier. Fitting on
# them as well found two more of their 72 and cost a third more CPU a page (BENCHMARKS.md),
# so they measure how the verifier carries over instead.
HANDWRITTEN_STYLES = HANDWRITTEN.with_name("handwritten_rephrasings_styles.jsonl")


def read_handwritten(path: Path = HANDWRITTEN) -> list[dict]:
    """The hand-written records: ``corpus``, ``ref_id``, ``label`` and ``text``.

    Label 1: rewords that item of an indexed corpus (a ``SuiteData.corpora`` name). Label 0:
    rewords a hard negative, and ``corpus`` names its ``SuiteData.negatives`` pool
    (``gsm8k-train``, ``mbpp``, ``mmlu-other``)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def handwritten_suite(data: SuiteData, seed: int = 3, path: Path = HANDWRITTEN) -> list[Case]:
    """Rephrasings written by hand, in the manner of a language model asked to reword a test
    item (new sentence order, synonyms, shuffled choices, renamed code), none of them made by
    ``transforms``: a check that the verifier has not learned only our generators' habits.

    Positives name the test item they reword; negatives (label 0) reword hard negatives (GSM8K
    *train* problems, MBPP programs, unindexed MMLU rows), which must stay ``keep``, and are
    reported per pool. Each is scanned alone and hidden in a web page.
    """
    b = SuiteBuilder(data, seed)
    cases = []
    for number, record in enumerate(read_handwritten(path)):
        positive = bool(record["label"])
        expected = ((record["corpus"], record["ref_id"]),) if positive else ()
        prefix = "handwritten-rephrased" if positive else f"handwritten-{record['corpus']}"
        text = record["text"]
        cases.append(
            Case(
                f"{prefix}-alone",
                f"{prefix}-alone-{number}",
                text,
                expected,
                (0, len(text)) if positive else None,
            )
        )
        cases.append(b._doc(f"{prefix}-hidden", number, text, expected))
    return cases


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    case: Case
    flagged: bool  # the document's decision is review or remove
    found: bool  # an expected item is flagged, with a span overlapping the hidden text
    decision: str
    top: str  # best match as corpus/ref_id, for reading failures


def evaluate(scanner, cases: list[Case], batch_size: int = 16) -> list[Outcome]:
    """Scan every case with ``scanner`` (anything with ``scan_many``) and judge the result."""
    outcomes = []
    for start in range(0, len(cases), batch_size):
        batch = cases[start : start + batch_size]
        results = scanner.scan_many([c.text for c in batch], ids=[c.doc_id for c in batch])
        for case, result in zip(batch, results, strict=True):
            flagged = result.decision.value != "keep"
            found = any(
                (m.corpus, m.ref_id) in case.expected
                and m.decision.value != "keep"
                and case.span is not None
                and any(e.doc_start < case.span[1] and e.doc_end > case.span[0] for e in m.evidence)
                for m in result.matches
            )
            top = f"{result.matches[0].corpus}/{result.matches[0].ref_id}" if result.matches else ""
            outcomes.append(Outcome(case, flagged, found, result.decision.value, top))
    return outcomes


@dataclass(frozen=True)
class CategoryScore:
    category: str
    positive: bool
    cases: int
    hits: int  # found (positives) or flagged (negatives)

    @property
    def rate(self) -> float:
        return self.hits / self.cases if self.cases else 0.0


def score(outcomes: list[Outcome]) -> list[CategoryScore]:
    """Recall per positive category, false-positive rate per negative category."""
    order: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        order.setdefault(outcome.case.category, []).append(outcome)
    scores = []
    for category, group in order.items():
        positive = group[0].case.positive
        hits = sum(o.found if positive else o.flagged for o in group)
        scores.append(CategoryScore(category, positive, len(group), hits))
    return scores


def format_scores(scores: list[CategoryScore]) -> str:
    lines = [f"{'category':<22} {'kind':<9} {'cases':>6} {'hits':>6} {'rate':>8}"]
    for s in scores:
        label = "recall" if s.positive else "FP rate"
        lines.append(f"{s.category:<22} {label:<9} {s.cases:>6} {s.hits:>6} {s.rate:>8.4f}")
    return "\n".join(lines)
