"""The files of a corpus folder as the build wrote them: name, size and SHA-256 of each.

The manifest lists every file the build put in a corpus folder, whatever it is, so a file a
later version adds is covered without a list of names to keep up to date. Loading an index
compares sizes (one ``stat`` per file: a truncated or emptied file shows at once); only
``clearance index verify`` reads every byte to compare checksums, because hashing a
multi-gigabyte index on every load would cost more than the load itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IndexFile:
    """One file of a corpus folder; ``name`` is relative to the folder, with ``/`` separators."""

    name: str
    size: int
    sha256: str


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def folder_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder``, sorted by relative path."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


def describe_files(folder: Path) -> tuple[IndexFile, ...]:
    """Name, size and checksum of every file under ``folder``, as the manifest records them."""
    return tuple(describe_file(folder, path) for path in folder_files(folder))


def describe_file(folder: Path, path: Path) -> IndexFile:
    """Name (relative to ``folder``), size and checksum of one file of it."""
    return IndexFile(
        Path(path).relative_to(folder).as_posix(), path.stat().st_size, sha256_of(path)
    )


def size_problem(folder: Path, file: IndexFile) -> str | None:
    """Why ``file`` is not as written, judged by its size alone; None if it looks whole."""
    path = Path(folder) / file.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{path} is missing"
    if size != file.size:
        return f"{path} is {size:,} bytes; the index build wrote {file.size:,}"
    return None


def content_problem(folder: Path, file: IndexFile) -> str | None:
    """Why ``file`` is not as written, judged by its size and its SHA-256; None if it is."""
    problem = size_problem(folder, file)
    if problem is not None:
        return problem
    path = Path(folder) / file.name
    actual = sha256_of(path)
    if actual != file.sha256:
        return (
            f"{path} does not hold what the index build wrote "
            f"(SHA-256 {actual[:16]}…, recorded {file.sha256[:16]}…)"
        )
    return None


def unlisted_files(folder: Path, files: tuple[IndexFile, ...]) -> list[Path]:
    """Files under ``folder`` that the build did not write (a stray copy, a hand edit)."""
    listed = {f.name for f in files}
    folder = Path(folder)
    return [p for p in folder_files(folder) if p.relative_to(folder).as_posix() not in listed]
