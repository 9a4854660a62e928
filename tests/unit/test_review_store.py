"""What review remembers across restarts: the answer cache and the dismissals, as JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lsp_assist.review import store
from lsp_assist.review.schema import RawFinding
from lsp_assist.review.store import (
    MAX_CACHED_ANSWERS,
    Dismissals,
    ReviewCache,
    default_state_dir,
    dismissal_key,
    review_key,
)

FINDING = RawFinding(
    line=3,
    evidence="if amount < balance:",
    trigger="withdraw(5) with a balance of 10 raises",
    is_problem=True,
    category="logic",
    confidence="high",
    message="The comparison is inverted",
    fix_old="amount < balance",
    fix_new="amount > balance",
)
KEY_PARTS: dict[str, Any] = {
    "unit_fingerprint": "f" * 32,
    "context": "import os",
    "header": "class Bank:",
    "model": "qwen2.5-coder:7b-instruct",
    "options": {"num_ctx": 8192, "temperature": 0},
}


def key(**changes: Any) -> str:
    return review_key(**(KEY_PARTS | changes))


# -- the answer cache -----------------------------------------------------------------------------


def test_a_saved_answer_is_read_by_a_new_cache(tmp_path: Path) -> None:
    path = tmp_path / "reviews.json"
    cache = ReviewCache(path)
    cache.put(key(), [FINDING])
    cache.put(key(model="other"), [])
    cache.save()
    reloaded = ReviewCache(path)
    assert reloaded.get(key()) == [FINDING]
    assert reloaded.get(key(model="other")) == []


def test_an_unknown_key_is_a_miss_and_an_empty_answer_is_a_hit(tmp_path: Path) -> None:
    cache = ReviewCache(tmp_path / "reviews.json")
    cache.put(key(), [])
    assert cache.get(key()) == []
    assert cache.get(key(model="other")) is None


def test_nothing_is_written_until_saved(tmp_path: Path) -> None:
    path = tmp_path / "reviews.json"
    ReviewCache(path).put(key(), [FINDING])
    assert not path.exists()
    assert ReviewCache(path).get(key()) is None


def test_saving_creates_the_state_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "lsp-assist" / "reviews.json"
    cache = ReviewCache(path)
    cache.put(key(), [FINDING])
    cache.save()
    assert ReviewCache(path).get(key()) == [FINDING]
    assert [p.name for p in path.parent.iterdir()] == ["reviews.json"]  # no temporary left


def test_a_cache_without_a_file_works_in_memory(tmp_path: Path) -> None:
    cache = ReviewCache(None)
    cache.put(key(), [FINDING])
    cache.save()
    assert cache.get(key()) == [FINDING]


def test_the_cache_forgets_the_least_recently_used_answer_past_its_bound() -> None:
    cache = ReviewCache(None)
    for i in range(MAX_CACHED_ANSWERS):
        cache.put(f"key {i}", [])
    assert cache.get("key 0") == []  # used: now the most recent
    cache.put("one more", [])
    assert cache.get("key 1") is None
    assert cache.get("key 0") == []
    assert cache.get(f"key {MAX_CACHED_ANSWERS - 1}") == []
    assert cache.get("one more") == []


def test_the_bound_holds_across_a_save(tmp_path: Path) -> None:
    path = tmp_path / "reviews.json"
    cache = ReviewCache(path)
    for i in range(MAX_CACHED_ANSWERS + 10):
        cache.put(f"key {i}", [])
    cache.save()
    assert len(json.loads(path.read_text())) == MAX_CACHED_ANSWERS


@pytest.mark.parametrize(
    "content",
    ["{not json", "", '["a", "list"]', '"text"', "\xff\xfe garbage"],
    ids=["broken", "empty", "list", "string", "binary"],
)
def test_an_unreadable_cache_file_starts_afresh(tmp_path: Path, content: str) -> None:
    path = tmp_path / "reviews.json"
    path.write_bytes(content.encode("latin-1"))
    cache = ReviewCache(path)
    assert cache.get(key()) is None
    cache.put(key(), [FINDING])
    cache.save()
    assert ReviewCache(path).get(key()) == [FINDING]


def test_a_cache_entry_that_is_not_a_list_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps({key(): "oops", key(model="b"): [FINDING.to_json()]}))
    cache = ReviewCache(path)
    assert cache.get(key()) is None
    assert cache.get(key(model="b")) == [FINDING]


def test_a_malformed_cached_finding_is_dropped_alone(tmp_path: Path) -> None:
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps({key(): [{"category": "style"}, FINDING.to_json(), 7]}))
    assert ReviewCache(path).get(key()) == [FINDING]


def test_saving_where_it_cannot_write_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    cache = ReviewCache(blocker / "reviews.json")
    cache.put(key(), [FINDING])
    cache.save()
    assert cache.get(key()) == [FINDING]


# -- the review key -------------------------------------------------------------------------------


def test_the_same_inputs_give_the_same_key() -> None:
    assert key() == key()
    assert key(options={"temperature": 0, "num_ctx": 8192}) == key()  # key order is no change


@pytest.mark.parametrize(
    "change",
    [
        {"unit_fingerprint": "e" * 32},
        {"context": "import sys"},
        {"header": "class Vault:"},
        {"model": "qwen2.5-coder:14b-instruct"},
        {"options": {"num_ctx": 4096, "temperature": 0}},
        {"options": {}},
    ],
    ids=["unit", "context", "header", "model", "option-value", "no-options"],
)
def test_anything_that_decides_the_answer_changes_the_key(change: dict[str, Any]) -> None:
    assert key(**change) != key()


def test_a_new_prompt_version_changes_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    before = key()
    monkeypatch.setattr(store, "PROMPT_VERSION", store.PROMPT_VERSION + 1)
    assert key() != before


def test_a_new_schema_version_changes_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    before = key()
    monkeypatch.setattr(store, "SCHEMA_VERSION", store.SCHEMA_VERSION + 1)
    assert key() != before


def test_header_and_context_do_not_run_into_each_other() -> None:
    assert key(header="ab", context="c") != key(header="a", context="bc")


def test_code_with_a_lone_surrogate_has_keys_like_any_other() -> None:
    # JSON lets an editor send half a surrogate pair; reviewing such a file once failed here.
    assert key(context='s = "\ud800"') not in (key(), key(context='s = "\udc00"'))
    odd = dismissal_key("f" * 32, 's = "\ud800"', "logic")
    assert odd != dismissal_key("f" * 32, 's = "\udc00"', "logic")


# -- dismissals -----------------------------------------------------------------------------------


def test_a_dismissal_is_remembered_by_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "dismissed.json"
    dismissal = dismissal_key("f" * 32, "if amount < balance:", "logic")
    dismissals = Dismissals(path)
    dismissals.add(dismissal)
    dismissals.save()
    reloaded = Dismissals(path)
    assert dismissal in reloaded
    assert dismissal_key("f" * 32, "if amount < balance:", "security") not in reloaded


def test_dismissals_accumulate_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dismissed.json"
    first = Dismissals(path)
    first.add("one")
    first.save()
    second = Dismissals(path)
    second.add("two")
    second.save()
    reloaded = Dismissals(path)
    assert "one" in reloaded and "two" in reloaded


def test_a_dismissal_ignores_how_the_quote_is_spaced() -> None:
    base = dismissal_key("f" * 32, "if amount < balance:", "logic")
    assert dismissal_key("f" * 32, "  if  amount <\tbalance: ", "logic") == base


def test_a_dismissal_of_changed_code_does_not_apply() -> None:
    base = dismissal_key("f" * 32, "if amount < balance:", "logic")
    assert dismissal_key("e" * 32, "if amount < balance:", "logic") != base
    assert dismissal_key("f" * 32, "if amount <= balance:", "logic") != base


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', "null"])
def test_an_unreadable_dismissals_file_starts_afresh(tmp_path: Path, content: str) -> None:
    path = tmp_path / "dismissed.json"
    path.write_text(content)
    dismissals = Dismissals(path)
    assert "a" not in dismissals
    dismissals.add("b")
    dismissals.save()
    assert "b" in Dismissals(path)


def test_dismissals_without_a_file_work_in_memory() -> None:
    dismissals = Dismissals(None)
    dismissals.add("k")
    assert "k" in dismissals


# -- where the state lives ------------------------------------------------------------------------


def test_state_lives_under_xdg_state_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "lsp-assist"


def test_without_xdg_state_home_state_lives_in_the_home_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / ".local" / "state" / "lsp-assist"
