from __future__ import annotations

import pytest

from indexer.chunking import ChunkingSettings, chunk_passages, window_starts
from indexer.normalize import tokenize


def test_windows_cover_every_token_and_the_last_is_flush_with_the_end():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert window_starts(3, 4, 3) == [0]


def test_passages_overlap_and_keep_character_offsets():
    text = " ".join(f"word{i}" for i in range(250))
    passages = chunk_passages(
        tokenize(text), ChunkingSettings(passage_tokens=96, passage_stride=64)
    )
    assert [p.token_start for p in passages] == [0, 64, 128, 154]
    assert passages[-1].token_end == 250
    for p in passages:
        words = text[p.char_start : p.char_end].split()
        assert words[0] == f"word{p.token_start}" and words[-1] == f"word{p.token_end - 1}"


def test_short_text_is_one_passage_and_empty_text_none():
    assert len(chunk_passages(tokenize("a short question?"))) == 1
    assert chunk_passages(tokenize("")) == []


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="passage_stride"):
        ChunkingSettings(passage_tokens=10, passage_stride=20)
