"""Opening a source as a stream of bytes, and telling its format by what it holds.

Compression is recognised by its magic bytes (gzip, zstd, bz2, xz), Parquet by ``PAR1``, and
the rest by its first bytes: JSON lines, a JSON array or document, or plain text. A name only
settles what content cannot: ``.jsonl`` is JSON lines even if its first line is broken, ``.txt``
is text even if it starts with ``{``. Nothing here reads more than a small window ahead, so a
stream of any size (stdin included) is read in bounded memory.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

from indexer.readers.records import BadLine, parse_json_line


class InputReadError(ValueError):
    """An input that cannot be read at all (missing, unreadable, corrupt); names the input."""

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # Raised in worker processes: it must come back through pickle with both parts.
        return type(self), (self.where, self.problem)


class Format(StrEnum):
    JSONL = "jsonl"
    JSON = "json"  # one JSON array of records, or one JSON document
    PARQUET = "parquet"
    TEXT = "text"  # one document


MAGIC = {
    b"\x1f\x8b": "gz",
    b"\x28\xb5\x2f\xfd": "zst",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
}
PARQUET_MAGIC = b"PAR1"
COMPRESSION_SUFFIXES = {".gz": "gz", ".zst": "zst", ".bz2": "bz2", ".xz": "xz"}
NAMED_FORMATS = {
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".json": Format.JSON,
    ".parquet": Format.PARQUET,
    ".txt": Format.TEXT,
}
# Reads while telling the format; it never looks further ahead than SNIFF_LIMIT.
SNIFF_BYTES = 1 << 16
SNIFF_LIMIT = 8 << 20


def named_format(name: str) -> tuple[Format | None, str | None]:
    """What a file name claims: (format, compression), either may be None."""
    name = name.lower()
    compression = None
    for suffix, kind in COMPRESSION_SUFFIXES.items():
        if name.endswith(suffix):
            compression, name = kind, name[: -len(suffix)]
            break
    fmt = next((f for suffix, f in NAMED_FORMATS.items() if name.endswith(suffix)), None)
    return fmt, compression


class CountingReader(io.RawIOBase):
    """Counts the bytes read from ``raw``: progress through a file, whatever reads it."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = read_some(self._raw, len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        return size


class PrefixedReader(io.RawIOBase):
    """Bytes already read ahead (to sniff them), then the rest of ``rest``."""

    def __init__(self, prefix: bytes, rest: IO[bytes]):
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        data = read_some(self._rest, len(buffer))
        buffer[: len(data)] = data
        return len(data)


class ZstdFrames(io.RawIOBase):
    """Decompressed bytes of every zstd frame in ``raw``; a cut-off last frame is an error.

    ``zstandard``'s own stream reader ends quietly at a truncated frame, which would drop the
    rest of a damaged file without a word; gzip raises ``EOFError`` there, and so does this.
    Input goes to the decompressor in small slices because it has no output limit: memory is
    one slice times the compression ratio, never the file.
    """

    SLICE = 1 << 13

    def __init__(self, raw: IO[bytes]):
        import zstandard

        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._frame = self._new()
        self._input = b""
        self._output = memoryview(b"")
        self._started = False  # bytes of the current frame seen

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._output:
            if not self._input:
                self._input = read_some(self._raw, self.SLICE)
                if not self._input:
                    if self._started and not self._frame.eof:
                        raise EOFError("zstd stream ends inside a frame: the file is truncated")
                    return 0
            if self._frame.eof:  # concatenated frames (pzstd, cat a.zst b.zst) are one stream
                self._frame = self._new()
            self._started = True
            data, self._input = self._input, b""
            self._output = memoryview(self._frame.decompress(data))
            if self._frame.eof:
                self._input = self._frame.unused_data
        size = min(len(buffer), len(self._output))
        buffer[:size] = self._output[:size]
        self._output = self._output[size:]
        return size


def decompress(raw: IO[bytes], compression: str | None) -> IO[bytes]:
    """A buffered, line-iterable stream of the decompressed bytes of ``raw``."""
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "zst":
        return io.BufferedReader(ZstdFrames(raw))
    if compression == "bz2":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if compression == "xz":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    return io.BufferedReader(raw)  # type: ignore[arg-type]


def read_some(stream: Any, size: int) -> bytes:
    """At most ``size`` bytes from one read: what a pipe holds now, without waiting for more.

    A buffered stream's ``read(n)`` blocks until it has ``n`` bytes, so a reader stacked on
    stdin would sit on records already piped in until a whole buffer arrived.
    """
    read1 = getattr(stream, "read1", None)
    return (read1 or stream.read)(size) or b""


def read_ahead(stream: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the stream (pipes return short reads)."""
    parts, got = [], 0
    while got < size:
        part = stream.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def compression_of(head: bytes) -> str | None:
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)


@dataclass
class Sniffed:
    """A source's format, and a stream of its decompressed bytes from the start."""

    format: Format
    compression: str | None
    stream: IO[bytes] | None  # None for Parquet, which is read from the file itself
    counter: CountingReader

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def sniff(raw: IO[bytes], name: str, *, force: Format | None = None) -> Sniffed:
    """Tell the format of ``raw`` (named ``name``) from its first bytes."""
    counter = CountingReader(raw)
    head = read_ahead(counter, 8)
    named, _ = named_format(name)
    if head.startswith(PARQUET_MAGIC) and force is None:
        return Sniffed(Format.PARQUET, None, None, counter)
    if named is Format.PARQUET and force is None:
        raise InputReadError(name, "not a Parquet file (it does not start with PAR1)")
    compression = compression_of(head)
    stream = decompress(PrefixedReader(head, counter), compression)
    decided_by_name = force is not None or named in (Format.JSONL, Format.TEXT)
    window = b"" if decided_by_name else _sniff_window(stream)
    fmt = force or _content_format(window, named)
    return Sniffed(fmt, compression, io.BufferedReader(PrefixedReader(window, stream)), counter)


def _sniff_window(stream: IO[bytes]) -> bytes:
    """The first bytes: only as many as telling the format needs (at most ``SNIFF_LIMIT``)."""
    window = b""
    while len(window) < SNIFF_LIMIT and not _decided(window):
        more = read_some(stream, SNIFF_BYTES)
        if not more:
            break
        window += more
    return window


def _decided(window: bytes) -> bool:
    """Whether ``window`` holds enough to tell JSON lines, JSON and text apart."""
    body = window.lstrip(_BLANK)
    if body[:1] == b"[":
        return bool(body[1:].lstrip())  # the byte after "[" tells records from text
    if body[:1] != b"{":
        return bool(body)
    lines = _first_lines(window)  # JSON lines, or one document over lines?
    if not lines:
        return False
    return not isinstance(parse_json_line(lines[0].strip()), BadLine) or len(lines) > 1


_BLANK = b"\xef\xbb\xbf \t\r\n"


def _starts(window: bytes) -> bytes:
    """The first byte that is not a byte-order mark or white space."""
    return window.lstrip(_BLANK)[:1]


def _first_lines(window: bytes) -> list[bytes]:
    """Complete non-blank lines at the start of ``window`` (at most two)."""
    lines = []
    for line in window.split(b"\n")[:-1]:
        if line.strip():
            lines.append(line)
            if len(lines) == 2:
                break
    return lines


def _content_format(window: bytes, named: Format | None) -> Format:
    if named in (Format.JSONL, Format.TEXT):
        return named
    start = _starts(window)
    if start == b"[":
        after = window.lstrip(_BLANK)[1:].lstrip()[:1]
        # "[1] Introduction" is text; a JSON array of records starts with "[{" (or is "[]").
        if named is Format.JSON or after in (b"{", b"]"):
            return Format.JSON
        return Format.TEXT
    if start != b"{":
        return Format.JSON if named is Format.JSON else Format.TEXT
    lines = _first_lines(window) or [window]
    first = parse_json_line(lines[0].strip())
    if not isinstance(first, BadLine) or (len(lines) > 1 and lines[1].lstrip()[:1] == b"{"):
        return Format.JSONL  # one object per line (a broken first line is its reject)
    return Format.JSON  # a pretty-printed document spans lines


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers, without line endings."""
    for number, line in enumerate(stream, start=1):
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield number, line


# What a damaged compressed stream raises while it is read.
CORRUPT = (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError)
