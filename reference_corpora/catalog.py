"""The catalog of known reference corpora (``manifest.toml``) and where their data lives.

Each entry names a corpus, its kind, licence note, loader and path. Paths under ``root = "data"``
are relative to the shared data folder (``CLEARANCE_DATA_DIR``, default ``../shared/data`` beside
the project); paths under ``root = "samples"`` are this package's own samples, written for the
demo.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from indexer.corpus import Corpus, CorpusInputError, CorpusKind
from indexer.normalize import TextMode
from reference_corpora.loaders import LOADERS

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
MANIFEST_PATH = PACKAGE_DIR / "manifest.toml"


def data_dir() -> Path:
    """The shared real-data folder: ``CLEARANCE_DATA_DIR`` or ``../shared/data``."""
    configured = os.environ.get("CLEARANCE_DATA_DIR")
    return Path(configured) if configured else (PROJECT_DIR.parent / "shared" / "data")


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    kind: CorpusKind
    loader: str
    path: str
    root: str = "data"
    mode: TextMode = TextMode.PROSE
    license: str = ""
    description: str = ""
    default: bool = False

    def resolved_path(self, data_root: Path | None = None) -> Path:
        base = PACKAGE_DIR if self.root == "samples" else (data_root or data_dir())
        return base / self.path

    def load(self, data_root: Path | None = None) -> Corpus:
        path = self.resolved_path(data_root)
        if not path.exists():
            raise CorpusInputError(
                f"corpus {self.name!r}: {path} does not exist"
                + ("" if self.root == "samples" else "; set CLEARANCE_DATA_DIR to the data folder")
            )
        items = LOADERS[self.loader](path)
        return Corpus(
            name=self.name,
            kind=self.kind,
            mode=self.mode,
            items=items,
            source=str(path),
            license=self.license,
        )


def read_catalog(path: Path = MANIFEST_PATH) -> dict[str, CorpusSpec]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    specs: dict[str, CorpusSpec] = {}
    for number, entry in enumerate(data.get("corpus", []), start=1):
        try:
            spec = CorpusSpec(
                name=entry["name"],
                kind=CorpusKind(entry["kind"]),
                loader=entry["loader"],
                path=entry["path"],
                root=entry.get("root", "data"),
                mode=TextMode(entry.get("mode", "prose")),
                license=entry.get("license", ""),
                description=entry.get("description", ""),
                default=bool(entry.get("default", False)),
            )
        except (KeyError, ValueError) as exc:
            raise CorpusInputError(f"{path}: corpus entry {number}: {exc}") from exc
        if spec.loader not in LOADERS:
            raise CorpusInputError(
                f"{path}: corpus {spec.name!r}: unknown loader {spec.loader!r} "
                f"(known: {', '.join(sorted(LOADERS))})"
            )
        specs[spec.name] = spec
    return specs


def load_corpora(names: list[str], data_root: Path | None = None) -> list[Corpus]:
    catalog = read_catalog()
    missing = [n for n in names if n not in catalog]
    if missing:
        raise CorpusInputError(f"unknown corpus {', '.join(missing)}; known: {', '.join(catalog)}")
    return [catalog[name].load(data_root) for name in names]


def default_corpora() -> list[Corpus]:
    """The demo corpora: this project's own samples, indexed by the quick start."""
    return [spec.load() for spec in read_catalog().values() if spec.default]
