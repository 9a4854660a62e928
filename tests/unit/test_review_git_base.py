"""The committed version of a file, from a real git repository in a temporary directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lsp_assist.review.git_base import head_text

COMMITTED = "def add(a, b):\n    return a + b\n"


@pytest.fixture(autouse=True)
def git_stays_inside_tmp_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """git looks no higher than the test's directory, and ignores the user's own config."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(repo: Path, *args: str) -> None:
    env = os.environ | {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    return root


def commit(repo: Path, relative: str, text: str) -> Path:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    git(repo, "add", relative)
    git(repo, "commit", "-q", "-m", f"add {relative}")
    return path


async def test_a_modified_file_gives_its_committed_text(repo: Path) -> None:
    path = commit(repo, "calc.py", COMMITTED)
    path.write_text(COMMITTED.replace("+", "-"), encoding="utf-8")
    assert await head_text(path) == COMMITTED


async def test_staged_changes_are_not_the_committed_text(repo: Path) -> None:
    path = commit(repo, "calc.py", COMMITTED)
    path.write_text("x = 1\n", encoding="utf-8")
    git(repo, "add", "calc.py")
    assert await head_text(path) == COMMITTED


async def test_a_file_in_a_subdirectory_gives_its_own_committed_text(repo: Path) -> None:
    commit(repo, "calc.py", "top = 1\n")
    path = commit(repo, "pkg/sub/calc.py", COMMITTED)
    assert await head_text(path) == COMMITTED


async def test_a_file_name_with_spaces_and_non_ascii_text_is_read(repo: Path) -> None:
    text = "prix = '12 €'  # coût\n"
    path = commit(repo, "mon fichier.py", text)
    assert await head_text(path) == text


async def test_an_untracked_file_has_no_committed_text(repo: Path) -> None:
    commit(repo, "calc.py", COMMITTED)
    new = repo / "new.py"
    new.write_text("x = 1\n", encoding="utf-8")
    assert await head_text(new) is None


async def test_a_repository_without_commits_has_no_committed_text(repo: Path) -> None:
    path = repo / "calc.py"
    path.write_text(COMMITTED, encoding="utf-8")
    git(repo, "add", "calc.py")
    assert await head_text(path) is None


async def test_a_file_outside_any_repository_has_no_committed_text(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    path = plain / "calc.py"
    path.write_text(COMMITTED, encoding="utf-8")
    assert await head_text(path) is None


async def test_a_file_in_a_missing_directory_has_no_committed_text(tmp_path: Path) -> None:
    assert await head_text(tmp_path / "gone" / "calc.py") is None
