"""A document being scanned, with its tokens and fingerprints computed once per mode."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from indexer.fingerprints import ngram_hashes, tokenized_hashes
from indexer.manifest import IndexSettings
from indexer.normalize import TextMode, TokenizedText, tokenize
from indexer.terms import term_weights


@dataclass
class Document:
    text: str
    settings: IndexSettings
    id: str | None = None
    _tokens: dict[TextMode, TokenizedText] = field(default_factory=dict, repr=False)
    _token_hashes: dict[TextMode, np.ndarray] = field(default_factory=dict, repr=False)
    _grams: dict[tuple[TextMode, int], np.ndarray] = field(default_factory=dict, repr=False)
    _term_weights: np.ndarray | None = field(default=None, repr=False)

    def tokens(self, mode: TextMode) -> TokenizedText:
        if mode not in self._tokens:
            self._tokens[mode] = tokenize(self.text, mode, self.settings.normalization)
        return self._tokens[mode]

    def token_hashes(self, mode: TextMode) -> np.ndarray:
        if mode not in self._token_hashes:
            self._token_hashes[mode] = tokenized_hashes(
                self.tokens(mode), self.settings.ngrams.seed
            )
        return self._token_hashes[mode]

    def grams(self, mode: TextMode, length: int) -> np.ndarray:
        """Hash of every ``length``-gram of the document in ``mode`` (index = first token)."""
        key = (mode, length)
        if key not in self._grams:
            self._grams[key] = ngram_hashes(self.token_hashes(mode), length)
        return self._grams[key]

    def term_weights(self) -> np.ndarray:
        """Rare-term weight of each prose token (``indexer.terms``)."""
        if self._term_weights is None:
            tokens = self.tokens(TextMode.PROSE).tokens
            self._term_weights = term_weights(tokens, self.settings.terms)
        return self._term_weights

    def snippet(self, start: int, end: int, limit: int = 200) -> str:
        """The span's text on one line, cut in the middle when long."""
        text = " ".join(self.text[start:end].split())
        if len(text) <= limit:
            return text
        half = limit // 2 - 2
        return f"{text[:half]} … {text[-half:]}"
