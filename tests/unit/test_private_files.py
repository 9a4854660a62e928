"""The state directory and its files are the user's only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lsp_assist.private_files import private_dir, private_file, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The usual umask, under which a plain write gives 0644 and a plain mkdir 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_state_directory_and_its_files_are_private(tmp_path: Path) -> None:
    file = tmp_path / "state" / "lsp-assist" / "review-cache.json"
    write_private(file, "{}")
    assert file.read_text() == "{}"
    assert mode(file.parent) == 0o700
    assert mode(file) == 0o600


def test_a_file_left_readable_is_private_once_written_again(tmp_path: Path) -> None:
    file = private_dir(tmp_path / "lsp-assist") / "dismissed.json"
    file.write_text("[]")
    file.chmod(0o644)
    write_private(file, '["key"]')
    assert mode(file) == 0o600 and file.read_text() == '["key"]'


def test_a_directory_an_older_version_left_open_is_tightened_with_its_contents(
    tmp_path: Path,
) -> None:
    state = tmp_path / "lsp-assist"
    (state / "index").mkdir(parents=True, mode=0o755)
    state.chmod(0o755)
    (state / "review-cache.json").write_text("{}")
    (state / "index" / "0123.json").write_text("{}")
    private_dir(state)
    assert mode(state) == 0o700 and mode(state / "index") == 0o700
    assert mode(state / "review-cache.json") == 0o600
    assert mode(state / "index" / "0123.json") == 0o600


def test_a_umask_that_takes_the_owners_bits_still_gives_a_usable_private_directory(
    tmp_path: Path,
) -> None:
    os.umask(0o277)
    file = tmp_path / "lsp-assist" / "review-cache.json"
    write_private(file, "{}")
    write_private(file, "{}")  # the directory is still writable
    assert mode(file.parent) == 0o700 and mode(file) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    file = tmp_path / "lsp-assist" / "index.json"
    write_private(file, "old")
    with pytest.raises(RuntimeError), private_file(file) as out:
        out.write("half")
        raise RuntimeError("disk full")
    assert file.read_text() == "old"
    assert sorted(p.name for p in file.parent.iterdir()) == ["index.json"]
