"""The finished parts of a build in progress, kept beside its target so a rerun resumes.

``INDEX.build-parts/`` (for the index folder ``INDEX``) holds one ``KEY.npz`` per finished part
and a ``KEY.json`` with its SHA-256, written last: a part counts as finished only when both are
there and the checksum matches, so a build killed while writing one builds that part again. The
key names the part's items, the settings and the static model (``indexer.build_parts``), so a
rerun with other inputs or settings never reuses a part it would compute differently: those
are deleted when it starts. The folder goes once the index is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.build_parts import (
    PartArrays,
    PartTask,
    ProgressFactory,
    StoredPart,
    build_part,
    no_progress,
)
from indexer.files import sha256_of
from indexer.manifest import ClearanceIndexError, IndexSettings
from indexer.static_embedding import StaticEmbedder

log = logging.getLogger(__name__)

WORK_SUFFIX = ".build-parts"


class BuildBusyError(ClearanceIndexError):
    """Another build is writing the same index."""


class BuildEngineError(ClearanceIndexError):
    """A build worker died, or the Ray run itself failed; finished parts are kept."""


class PartsFolder:
    """Finished parts by key; every method is safe to call from a worker process."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def beside(cls, target: Path) -> PartsFolder:
        target = Path(target)
        return cls(target.parent / f"{target.name}{WORK_SUFFIX}")

    def _npz(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def _marker(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def finished(self, key: str) -> bool:
        """True if the part is there whole; a damaged or half-written one is deleted."""
        marker, npz = self._marker(key), self._npz(key)
        if not marker.exists():
            npz.unlink(missing_ok=True)
            return False
        try:
            expected = json.loads(marker.read_text(encoding="utf-8"))["sha256"]
            if npz.exists() and sha256_of(npz) == expected:
                return True
        except (OSError, ValueError, KeyError, TypeError):
            pass
        log.warning("build part %s is damaged; building it again", npz)
        marker.unlink(missing_ok=True)
        npz.unlink(missing_ok=True)
        return False

    def save(self, key: str, arrays: PartArrays) -> None:
        """Write the part and then its checksum, each under a temporary name first."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.npz.tmp-{os.getpid()}"
        arrays.save(tmp)
        checksum = sha256_of(tmp)
        os.replace(tmp, self._npz(key))
        marker_tmp = self.root / f".{key}.json.tmp-{os.getpid()}"
        marker_tmp.write_text(json.dumps({"sha256": checksum}), encoding="utf-8")
        os.replace(marker_tmp, self._marker(key))

    def stored(self, key: str) -> StoredPart:
        return StoredPart(self._npz(key))

    def discard_except(self, keys: Iterable[str]) -> int:
        """Delete every part not named in ``keys`` (and stray temporary files); how many."""
        wanted = set(keys)
        if not self.root.is_dir():
            return 0
        discarded = 0
        for path in self.root.iterdir():
            if path.name == _LOCK:
                continue
            if path.name.startswith("."):
                path.unlink(missing_ok=True)
            elif path.name.split(".", 1)[0] not in wanted:
                discarded += path.suffix == ".json"
                path.unlink(missing_ok=True)
        return discarded

    @contextmanager
    def held(self) -> Iterator[PartsFolder]:
        """Hold the folder for one build; refuse at once if another build holds it."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / _LOCK))
        try:
            lock.acquire(timeout=0)
        except Timeout as exc:
            raise BuildBusyError(
                f"another build is writing {self.root}; wait for it to end, or delete that "
                "folder if no build is running"
            ) from exc
        try:
            yield self
        finally:
            lock.release()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_LOCK = ".lock"


def build_and_save(
    task: PartTask,
    settings: IndexSettings,
    static: StaticEmbedder,
    folder: PartsFolder,
    progress: ProgressFactory = no_progress,
) -> str:
    """Build one part into the work folder: what every executor runs for every part."""
    folder.save(task.key, build_part(task, settings, static, progress))
    return task.key
