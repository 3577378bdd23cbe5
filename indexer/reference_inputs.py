"""What ``clearance index build`` and ``index add`` take: any mix of inputs, told by content.

A source of records (JSON lines, a JSON array, Parquet; ``refs.json`` as much as
``refs.jsonl``) is read as generic reference records; a plain-text source is a work. Each
input's works form one corpus, named ``name`` or after the input.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path

from indexer.corpus import (
    Corpus,
    CorpusInputError,
    CorpusKind,
    read_reference_jsonl,
    read_work,
    work_id,
)
from indexer.normalize import TextMode


def read_references(
    inputs: Sequence[str | Path],
    *,
    name: str | None = None,
    kind: CorpusKind | None = None,
    mode: TextMode = TextMode.PROSE,
) -> list[Corpus]:
    """Corpora from files, folders, globs, URLs or ``-`` (stdin).

    ``name`` and ``kind`` name the works' corpus and stand in for the ``corpus`` and ``kind``
    of records that lack them; works are ``copyright`` unless ``kind`` says otherwise.

    >>> read_references(["refs.json", "novels/"], name="my-novels")  # doctest: +SKIP
    """
    from indexer.readers import Format, InputReadError, detect_format, find_sources

    corpora: list[Corpus] = []
    for given in inputs:
        if str(given) == "-":  # stdin is read once: records only, no sniffing ahead
            corpora.extend(read_reference_jsonl("-", name=name, kind=kind))
            continue
        try:
            sources = find_sources([str(given)])
            formats = [detect_format(s)[0] for s in sources]
        except InputReadError as exc:
            raise CorpusInputError(str(exc)) from exc
        works = [s for s, f in zip(sources, formats, strict=True) if f is Format.TEXT]
        for source, fmt in zip(sources, formats, strict=True):
            if fmt is not Format.TEXT:
                corpora.extend(read_reference_jsonl(source.url, name=name, kind=kind))
        if works:
            corpus = Corpus(
                name=name or work_id(posixpath.basename(str(given).rstrip("/"))),
                kind=kind or CorpusKind.COPYRIGHT,
                items=[read_work(s) for s in works],
                source=str(given),
            )
            corpus.mode = mode
            corpora.append(corpus)
    return corpora
