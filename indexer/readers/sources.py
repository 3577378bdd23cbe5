"""Finding inputs: files, folders, globs, stdin, local or remote, each opened through fsspec.

A path with a protocol (``s3://``, ``gs://``, ``hf://``, ``memory://``, ``file://``) is opened
by fsspec's file system for it, so remote data needs only the matching backend installed
(``s3fs``, ``gcsfs``, ``huggingface_hub``). A folder or a glob stands for its readable files,
found by name (``.jsonl``, ``.json``, ``.ndjson``, ``.parquet``, ``.txt``, each optionally
``.gz``, ``.zst``, ``.bz2``, ``.xz``); a file named on its own is read whatever its name.
"""

from __future__ import annotations

import contextlib
import glob
import posixpath
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from indexer.readers.streams import InputReadError, named_format

STDIN = "-"


@dataclass(frozen=True)
class Source:
    """One input: ``url`` is a local absolute path, an fsspec URL, or ``-`` for stdin.

    ``key`` names it in ids (``key:line``), outputs and reports. Small and picklable, so it
    travels to worker processes, which open it themselves.
    """

    url: str
    key: str

    @property
    def is_stdin(self) -> bool:
        return self.url == STDIN

    @property
    def is_local(self) -> bool:
        return not self.is_stdin and "://" not in self.url

    @property
    def path(self) -> Path:
        """The local file (only for local sources)."""
        if not self.is_local:
            raise ValueError(f"{self.url} is not a local file")
        return Path(self.url)

    @property
    def where(self) -> str:
        """How messages name it: the path or URL as found, or stdin."""
        return "stdin" if self.is_stdin else self.url

    @property
    def name(self) -> str:
        return "stdin" if self.is_stdin else posixpath.basename(self.url.rstrip("/"))

    def filesystem(self) -> tuple[Any, str]:
        from fsspec.core import url_to_fs

        return url_to_fs(self.url)

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The raw bytes, as stored (still compressed)."""
        if self.is_stdin:
            yield sys.stdin.buffer
            return
        try:
            fs, path = self.filesystem()
            handle = fs.open(path, "rb")
        except (OSError, ValueError) as exc:
            raise InputReadError(self.url, f"cannot read: {_reason(exc)}") from exc
        with handle:
            yield handle

    def info(self) -> dict[str, Any]:
        """Size and modification time: what a resumed run compares to see a changed input."""
        if self.is_stdin:
            return {"path": STDIN, "size": None, "mtime_ns": None}
        if self.is_local:
            stat = self.path.stat()
            return {"path": self.url, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        fs, path = self.filesystem()
        info = fs.info(path)
        modified = next(
            (info[k] for k in ("mtime", "LastModified", "last_modified", "created") if k in info),
            None,
        )
        return {
            "path": self.url,
            "size": info.get("size"),
            "mtime_ns": None if modified is None else str(modified),
        }

    def size(self) -> int | None:
        return self.info()["size"]


def total_size(sources: Sequence[Source]) -> int | None:
    """Bytes of all the sources as stored; None when any size is unknown (stdin, some URLs)."""
    sizes = [source.size() for source in sources]
    return None if None in sizes else sum(sizes)  # type: ignore[arg-type]


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def is_readable_name(name: str) -> bool:
    """Whether a folder or glob should pick this file up (hidden files never)."""
    base = posixpath.basename(name)
    return not base.startswith(".") and named_format(base)[0] is not None


def find_sources(
    inputs: Sequence[str | Path],
    *,
    exclude: Path | None = None,
    stdin: bool = True,
) -> list[Source]:
    """Each input's files once, in the order given (a folder's and a glob's sorted).

    Keys are paths relative to the deepest folder holding every input, so two ``part-0.jsonl``
    in different folders stay apart. ``-`` is stdin (refused when ``stdin`` is false). Files
    under ``exclude`` (an output folder) are refused.
    """
    found: dict[str, None] = {}
    for given in inputs:
        text = str(given)
        if text == STDIN:
            if not stdin:
                raise InputReadError("stdin", "cannot be read here; save it to a file first")
            found[STDIN] = None
            continue
        for url in _expand(text):
            found[url] = None
    if not found:
        raise InputReadError("inputs", "none given")
    if exclude is not None:
        root = exclude.resolve()
        inside = [u for u in found if "://" not in u and Path(u).is_relative_to(root)]
        if inside:
            raise InputReadError(inside[0], "is inside the output folder; scan it elsewhere")
    return _keyed(list(found))


def _keyed(urls: list[str]) -> list[Source]:
    files = [u for u in urls if u != STDIN]
    root = ""
    if files:
        protocols = {u.split("://", 1)[0] if "://" in u else "" for u in files}
        if len(protocols) == 1:
            root = posixpath.commonpath([posixpath.dirname(u) for u in files])
    sources = []
    for url in urls:
        if url == STDIN:
            sources.append(Source(STDIN, "stdin"))
        else:
            key = posixpath.relpath(url, root) if root else url
            sources.append(Source(url, key if not key.startswith("..") else url))
    return sources


def _expand(given: str) -> list[str]:
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(given)
    except (ImportError, ValueError) as exc:  # an unknown protocol, or its backend missing
        raise InputReadError(given, str(exc)) from exc
    local = _is_local(fs)
    if glob.has_magic(path):
        matches = sorted(fs.glob(path))
        files: list[str] = []
        for match in matches:
            if fs.isdir(match):
                files.extend(_files_in(fs, match))
            elif is_readable_name(match):
                files.append(match)
        if not files:
            raise InputReadError(given, f"matches no readable file ({_SUFFIX_HINT})")
        return [_url(fs, f, local) for f in files]
    if fs.isdir(path):
        files = _files_in(fs, path)
        if not files:
            raise InputReadError(given, f"holds no readable file ({_SUFFIX_HINT})")
        return [_url(fs, f, local) for f in files]
    if not fs.isfile(path):
        raise InputReadError(given, "does not exist")
    return [_url(fs, path, local)]


_SUFFIX_HINT = ".jsonl, .json, .parquet, .txt, optionally .gz or .zst"


def _files_in(fs: Any, folder: str) -> list[str]:
    top = folder.rstrip("/")
    return sorted(
        f for f in fs.find(folder) if is_readable_name(f) and not _hidden(posixpath.relpath(f, top))
    )


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol


def _url(fs: Any, path: str, local: bool) -> str:
    if local:
        return str(Path(path).resolve())
    return fs.unstrip_protocol(path)
