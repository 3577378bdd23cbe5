"""Reading a corpus folder so that damage is refused at load, naming the file, not served.

The checks are the cheap ones, run on every load: each file the manifest lists has the size
the build wrote (one ``stat`` each), every file parses, every array has the shape the
manifest's counts call for, and the small arrays that are read whole anyway hold values that
can be true (offsets that rise from 0 to the end of the texts, counts that are not negative).
Big arrays are memory-mapped and not read; their bytes are checked by ``clearance index
verify``, which compares checksums.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from indexer.files import size_problem
from indexer.manifest import REBUILD_HINT, CorpusRecord, IndexCorruptError

# What reading a damaged file raises: numpy's header parser (ValueError), a short file
# (EOFError, OSError), FAISS (RuntimeError), JSON (ValueError), a row of the wrong shape
# (KeyError, TypeError, AttributeError).
_READ_ERRORS = (OSError, ValueError, EOFError, RuntimeError, TypeError, KeyError, AttributeError)


class CheckedCorpusFolder:
    """One corpus folder, its files' sizes checked against the manifest on opening."""

    def __init__(self, folder: Path, record: CorpusRecord):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise IndexCorruptError(f"{self.folder} is missing; {REBUILD_HINT}")
        if not record.files:
            raise IndexCorruptError(
                f"the manifest lists no files for {self.folder}; {REBUILD_HINT}"
            )
        for file in record.files:
            problem = size_problem(self.folder, file)
            if problem is not None:
                raise IndexCorruptError(f"{problem}; {REBUILD_HINT}")

    def damaged(self, name: str, what: str) -> IndexCorruptError:
        return IndexCorruptError(f"{self.folder / name} is damaged: {what}; {REBUILD_HINT}")

    def require(self, ok: bool, name: str, what: str) -> None:
        if not ok:
            raise self.damaged(name, what)

    @contextlib.contextmanager
    def reading(self, name: str) -> Iterator[Path]:
        """Turn any error reading ``name`` into one line that names it."""
        try:
            yield self.folder / name
        except _READ_ERRORS as exc:
            detail = " ".join(str(exc).split())[:200]
            raise self.damaged(name, f"it cannot be read ({type(exc).__name__}: {detail})") from exc

    def array(self, name: str, shape: tuple[int | None, ...], *, mmap: bool = False) -> np.ndarray:
        """A ``.npy`` array whose shape must be ``shape`` (``None``: any length)."""
        with self.reading(name) as path:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        fits = len(array.shape) == len(shape) and all(
            want is None or have == want for have, want in zip(array.shape, shape, strict=True)
        )
        wanted = "(" + ", ".join("n" if d is None else str(d) for d in shape) + ")"
        self.require(
            fits, name, f"its array has shape {array.shape}, the manifest calls for {wanted}"
        )
        return array

    def blob(self, name: str) -> np.ndarray:
        """A file of bytes, memory-mapped (``np.memmap`` refuses an empty file, which is legal)."""
        with self.reading(name) as path:
            if path.stat().st_size == 0:
                return np.empty(0, dtype=np.uint8)
            return np.memmap(path, dtype=np.uint8, mode="r")

    def jsonl(self, name: str, rows: int) -> list[Any]:
        """``rows`` JSON values, one a line (callers read fields under ``reading(name)``)."""
        with self.reading(name) as path, path.open(encoding="utf-8") as handle:
            parsed = [json.loads(line) for line in handle]
        self.require(len(parsed) == rows, name, f"it has {len(parsed)} lines, the manifest {rows}")
        return parsed
