"""Changing an index folder so that a crash at any moment leaves a loadable index.

The manifest is the commit: one atomic rename decides which corpus folders make the index.
A change (``index add``, ``add --replace``, ``index remove``) therefore never writes into a
folder the manifest lists. It writes each new corpus folder under a temporary hidden name,
marks it with ``CHANGE_MARKER`` and renames it beside the old ones under a name no folder has
(``books``, ``books@2``, ...); it marks each folder it will drop; it renames the new manifest
into place; then it deletes the dropped folders and takes the markers away.

A loader that finds a marked folder the manifest does not list skips it: a change wrote it
and did not commit, or committed and did not finish deleting it. A folder without the mark
that the manifest does not list is still refused, as a hand-cut manifest leaves one. So a
crash before the rename leaves the index the change found, a crash after it the index the
change made, and the next change (or nothing: the leftovers are never read) clears the rest.

Files of a committed folder are never written again, so a corpus's next folder can share its
files by hard link (a takedown copies no bytes), and a scanner that has them memory-mapped
keeps reading them after a change deletes the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from indexer.files import IndexFile
from indexer.manifest import (
    MANIFEST_NAME,
    ClearanceIndexError,
    CorpusRecord,
    IndexManifest,
    fsync_path,
    read_manifest,
    write_manifest,
)
from indexer.store import CHANGE_MARKER, CORPORA_DIR, corpus_dir

# Tests name a step here to have the process kill itself there (SIGKILL: no cleanup runs), as
# a power cut or the OOM killer would: ``tests/indexer/test_takedown.py``.
CRASH_AT_ENV = "CLEARANCE_CRASH_AT"
LOCK_NAME = ".change.lock"


class IndexChangedError(ClearanceIndexError):
    """Another change committed while this one was being written."""


class IndexBusyError(ClearanceIndexError):
    """Another change to the same index is running."""


def crash_point(step: str) -> None:
    if os.environ.get(CRASH_AT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def free_folder_name(index_dir: Path, name: str) -> str:
    """``name``, else ``name@2``, ``name@3``...: the first no folder of the index has."""
    root = Path(index_dir) / CORPORA_DIR
    candidate, n = name, 1
    while (root / candidate).exists():
        n += 1
        candidate = f"{name}@{n}"
    return candidate


def stage_corpus_folder(
    index_dir: Path, name: str, write: Callable[[Path], tuple[IndexFile, ...]]
) -> tuple[str, tuple[IndexFile, ...]]:
    """A new, marked folder for corpus ``name``, filled by ``write`` (which returns the files it
    wrote, for the manifest); returns its folder name and those files. Nothing reads it until
    a manifest that lists it is committed."""
    root = Path(index_dir) / CORPORA_DIR
    root.mkdir(parents=True, exist_ok=True)
    folder = free_folder_name(index_dir, name)
    tmp = root / f".{folder}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        files = write(tmp)
        crash_point("writing")
        for file in files:
            fsync_path(tmp / file.name)
        (tmp / CHANGE_MARKER).touch()
        fsync_path(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed write (disk full) leaves nothing
        raise
    os.replace(tmp, root / folder)
    fsync_path(root)
    crash_point("staged")
    return folder, files


def commit_change(index_dir: Path, current: IndexManifest, new: IndexManifest) -> IndexManifest:
    """Make ``new`` the index in place of ``current``: the folders ``new`` no longer lists are
    marked, the manifest renamed into place, then those folders deleted.

    Refused with ``IndexChangedError`` (and nothing changed) if the manifest on disk is no
    longer ``current``: another change committed while this one was written. A ``current``
    without corpora is a new index's first commit, which has nothing on disk to compare with
    (no manifest without a corpus is ever written).
    """
    index_dir = Path(index_dir)
    kept = {c.folder_name for c in new.corpora}
    dropped = [
        corpus_dir(index_dir, c.folder_name) for c in current.corpora if c.folder_name not in kept
    ]
    if current.corpora and read_manifest(index_dir).to_dict() != current.to_dict():
        raise IndexChangedError(
            f"{index_dir / MANIFEST_NAME} changed while this change was written; run it again"
        )
    for folder in dropped:
        (folder / CHANGE_MARKER).touch()
    crash_point("marked")
    write_manifest(index_dir, new)
    crash_point("committed")
    for folder in dropped:
        _delete_folder(folder)
    for record in new.corpora:
        (corpus_dir(index_dir, record.folder_name) / CHANGE_MARKER).unlink(missing_ok=True)
    return new


def placed(record: CorpusRecord, folder: str, files: tuple[IndexFile, ...]) -> CorpusRecord:
    """``record`` as staged in ``folder`` with ``files`` (its own name is the default folder)."""
    return replace(record, files=files, folder="" if folder == record.name else folder)


def change_leftovers(index_dir: Path, manifest: IndexManifest) -> list[Path]:
    """What interrupted changes left: temporary folders, marked folders the manifest does not
    list, and markers in folders it does. None of it is read; ``clear_leftovers`` removes it."""
    root = Path(index_dir) / CORPORA_DIR
    if not root.is_dir():
        return []
    listed = {c.folder_name for c in manifest.corpora}
    found = []
    for path in sorted(root.iterdir()):
        if not path.is_dir():
            continue
        if path.name.startswith("."):
            found.append(path)
        elif (path / CHANGE_MARKER).exists():
            found.append(path / CHANGE_MARKER if path.name in listed else path)
    return found


def clear_leftovers(index_dir: Path, manifest: IndexManifest) -> list[Path]:
    """Delete what ``change_leftovers`` finds; returns it. Run at the start of every change."""
    found = change_leftovers(index_dir, manifest)
    for path in found:
        if path.is_dir():
            _delete_folder(path)
        else:
            path.unlink(missing_ok=True)
    return found


@contextlib.contextmanager
def changing(index_dir: Path | str) -> Iterator[None]:
    """Hold the index's change lock for a whole change, refusing to wait for another one.

    A second change must not start while one runs: its ``clear_leftovers`` would take the
    first one's staged folders for leftovers. The lock is advisory (``flock``) and goes with
    the process that holds it, so a crashed change never leaves the index locked.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"another change to {index_dir} is in progress (it holds {LOCK_NAME}); "
                "run this one when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _delete_folder(folder: Path) -> None:
    """Hide the folder first (one rename), so no reader sees it half deleted."""
    if not folder.exists():
        return
    hidden = folder if folder.name.startswith(".") else folder.with_name(f".{folder.name}.old")
    if hidden != folder:
        if hidden.exists():
            shutil.rmtree(hidden)
        os.replace(folder, hidden)
    shutil.rmtree(hidden)
