"""Program shapes, shared by the verifier and the renamed-code matcher."""

from __future__ import annotations

from service.code_shape import item_shape, shape_tokens
from tests.conftest import catalog_corpus


def test_item_shape_ignores_names_docstrings_comments_and_strings():
    original = 'def area(w, h):\n    """Area of a w by h box."""\n    # easy\n    return w * h\n'
    renamed = "def size_3(a_1, b_2):\n    '''How big the rectangle is.'''\n    return a_1 * b_2\n"
    assert item_shape(original) == item_shape(renamed)
    assert item_shape(original) != item_shape("def area(w, h):\n    return w + h\n")


def test_shape_tokens_point_at_the_code_they_come_from(data_root):
    """Blanking keeps offsets: each shape token is its code token, an identifier it
    replaced, or the opening quote of a string."""
    for item in catalog_corpus("humaneval", data_root).items[:40]:
        shape = shape_tokens(item.text)
        assert len(shape.tokens) == len(shape.starts) > 10
        for token, start, end in zip(shape.tokens, shape.starts, shape.ends, strict=True):
            original = item.text[start:end]
            if token == "ID":
                assert original.isidentifier(), original
            elif token == '"':
                assert original in ('"', "'")
            else:
                assert original.casefold() == token


def test_token_range_maps_joined_characters_back_to_tokens():
    shape = shape_tokens("def f(x):\n    return x + 10\n")
    joined = shape.joined
    assert joined == "def ID ( ID ) : return ID + 10"
    at = joined.index("return")
    assert shape.token_range(at, at + len("return ID")) == (6, 8)
    assert shape.char_span(6, 8) == (14, 22)
