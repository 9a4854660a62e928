from __future__ import annotations

import pytest

from lsp_assist.completion.typethrough import CursorKey, SuggestionCache

TEXT = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"
CURSOR = TEXT.index("return ") + len("return ")


def test_typing_the_start_of_a_suggestion_is_recognised() -> None:
    key = CursorKey.at(TEXT, CURSOR)
    typed_text = TEXT[:CURSOR] + "a +" + TEXT[CURSOR:]
    assert key.typed_since(typed_text, CURSOR + 3) == "a +"


def test_the_same_state_is_an_empty_type_through() -> None:
    assert CursorKey.at(TEXT, CURSOR).typed_since(TEXT, CURSOR) == ""


def test_an_edit_after_the_cursor_breaks_the_match() -> None:
    key = CursorKey.at(TEXT, CURSOR)
    changed = TEXT.replace("print(add(1, 2))", "print(add(3, 4))")
    assert key.typed_since(changed, CURSOR) is None


def test_an_edit_before_the_anchor_breaks_the_match() -> None:
    key = CursorKey.at(TEXT, CURSOR)
    changed = TEXT.replace("def add(a, b)", "def add(x, y)")
    assert key.typed_since(changed, CURSOR) is None


def test_moving_the_cursor_back_before_the_anchor_breaks_the_match() -> None:
    key = CursorKey.at(TEXT, CURSOR)
    assert key.typed_since(TEXT, CURSOR - 1) is None


def test_cache_offers_the_most_recent_matching_suggestion_first() -> None:
    cache: SuggestionCache[str] = SuggestionCache(capacity=4)
    cache.put("file:///a.py", CursorKey.at(TEXT, CURSOR), "older")
    cache.put("file:///a.py", CursorKey.at(TEXT, CURSOR), "newer")
    cache.put("file:///b.py", CursorKey.at(TEXT, CURSOR), "other document")
    found = cache.candidates("file:///a.py", TEXT, CURSOR)
    assert found == [("newer", "")]


def test_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    cache: SuggestionCache[int] = SuggestionCache(capacity=2)
    for i in range(3):
        text = TEXT + "#" * i
        cache.put("file:///a.py", CursorKey.at(text, CURSOR), i)
    assert len(cache) == 2
    assert cache.candidates("file:///a.py", TEXT, CURSOR) == []
    assert cache.candidates("file:///a.py", TEXT + "##", CURSOR) == [(2, "")]


def test_forgetting_a_document_drops_only_its_suggestions() -> None:
    cache: SuggestionCache[str] = SuggestionCache()
    cache.put("file:///a.py", CursorKey.at(TEXT, CURSOR), "a")
    cache.put("file:///b.py", CursorKey.at(TEXT, CURSOR), "b")
    cache.forget("file:///a.py")
    assert cache.candidates("file:///a.py", TEXT, CURSOR) == []
    assert cache.candidates("file:///b.py", TEXT, CURSOR) == [("b", "")]


def test_of_several_matching_suggestions_the_most_recently_used_comes_first() -> None:
    cache: SuggestionCache[str] = SuggestionCache()
    typed_a = TEXT[:CURSOR] + "a" + TEXT[CURSOR:]
    typed_a_plus = TEXT[:CURSOR] + "a +" + TEXT[CURSOR:]
    cache.put("file:///a.py", CursorKey.at(TEXT, CURSOR), "asked before typing")
    cache.put("file:///a.py", CursorKey.at(typed_a, CURSOR + 1), "asked after `a`")
    found = cache.candidates("file:///a.py", typed_a_plus, CURSOR + 3)
    assert found == [("asked after `a`", " +"), ("asked before typing", "a +")]
    # Using the older one makes it the most recent.
    cache.touch("file:///a.py", CursorKey.at(TEXT, CURSOR))
    found = cache.candidates("file:///a.py", typed_a_plus, CURSOR + 3)
    assert [suggestion for suggestion, _ in found] == ["asked before typing", "asked after `a`"]


@pytest.mark.parametrize(("offset", "inserted"), [(0, "x"), (5, "abc\n"), (3000, "y" * 2000)])
def test_the_key_after_inserting_is_the_key_of_the_text_with_it(offset: int, inserted: str) -> None:
    text = "".join(f"line {i}\n" for i in range(600))
    with_it = text[:offset] + inserted + text[offset:]
    assert CursorKey.after_inserting(text, offset, inserted) == CursorKey.at(
        with_it, offset + len(inserted)
    )
