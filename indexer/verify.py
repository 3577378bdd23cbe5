"""``verify_index``: the full check behind ``clearance index verify``.

A load checks what it can without reading the big files (sizes, shapes, JSON). Damage that
keeps a file's size and shape (a zeroed postings table, flipped bytes in a FAISS file) shows
only in its bytes, so this reads every file the manifest lists and compares its SHA-256 with
the one the build recorded. It also reports files and corpus folders the build did not write,
and, apart from the problems, what an interrupted change left behind (``indexer.index_change``:
never read, cleared by the next change). ``clearance index build`` and ``index add`` run it on
what they wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer.files import content_problem, unlisted_files
from indexer.index_change import change_leftovers
from indexer.manifest import IndexCorruptError, IndexManifest, read_manifest
from indexer.static_embedding import STATIC_DIR, weights_checksum
from indexer.store import CHANGE_MARKER, ReferenceIndex, corpus_dir, unlisted_corpus_folders


@dataclass(frozen=True)
class IndexVerification:
    """What ``verify_index`` found: each problem names its file; none means the index is sound."""

    index_dir: Path
    problems: tuple[str, ...]
    files: int
    bytes: int
    # Folders and markers an interrupted change left; not damage (nothing reads them).
    leftovers: tuple[Path, ...] = ()
    # Per corpus with items taken down, how many (``indexer.removals``).
    removed_items: tuple[tuple[str, int], ...] = ()

    @property
    def sound(self) -> bool:
        return not self.problems


def verify_index(index_dir: Path | str) -> IndexVerification:
    """Check every file of ``index_dir`` against the sizes and SHA-256 sums in its manifest.

    Raises ``IndexNotFoundError`` / ``IndexMismatchError`` when there is no index of this format
    to check; damage (the manifest's own included) is returned, not raised.

    >>> verify_index("my-index").sound  # doctest: +SKIP
    True
    """
    index_dir = Path(index_dir)
    try:
        manifest = read_manifest(index_dir)
    except IndexCorruptError as exc:
        return IndexVerification(index_dir, (str(exc),), files=0, bytes=0)
    problems: list[str] = []
    files = size = 0
    for record in manifest.corpora:
        folder = corpus_dir(index_dir, record.folder_name)
        if not folder.is_dir():
            problems.append(f"{folder} is missing")
            continue
        for file in record.files:
            problem = content_problem(folder, file)
            if problem is None:
                files, size = files + 1, size + file.size
            else:
                problems.append(problem)
        if not record.files:
            problems.append(f"the manifest lists no files for {folder}")
        problems.extend(
            f"{path} was not written by the index build"
            for path in unlisted_files(folder, record.files)
            if path.name != CHANGE_MARKER
        )
    problems.extend(
        f"{folder} is not listed in the manifest"
        for folder in unlisted_corpus_folders(index_dir, manifest)
    )
    static_problem = _static_model_problem(index_dir, manifest)
    if static_problem is not None:
        problems.append(static_problem)
    if not problems:
        # Every byte is as written; what is left is a manifest edited to disagree with them
        # (a count changed by hand), which the load's shape checks see.
        try:
            ReferenceIndex.open(index_dir)
        except IndexCorruptError as exc:
            problems.append(str(exc))
    return IndexVerification(
        index_dir,
        tuple(problems),
        files=files,
        bytes=size,
        leftovers=tuple(change_leftovers(index_dir, manifest)),
        removed_items=tuple((c.name, c.removed_items) for c in manifest.corpora if c.removed_items),
    )


def _static_model_problem(index_dir: Path, manifest: IndexManifest) -> str | None:
    """The index's copy of its static model, against the weights checksum the build recorded."""
    folder = index_dir / STATIC_DIR
    try:
        actual = weights_checksum(folder)
    except OSError:
        return f"{folder} is missing or unreadable"
    if actual != manifest.static_checksum:
        return f"{folder} does not hold the static model the index was built with"
    return None
