from __future__ import annotations

import bisect
import random

import pytest

from lsp_assist.line_index import LineIndex, line_starts_after_breaks

PIECES = ["a", "\n", "\r", "\r\n", "bc", " ", "\n\n"]


@pytest.mark.parametrize("seed", range(200))
def test_line_starts_stay_exact_through_random_edits(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 30)))
    index = LineIndex(text)
    for _ in range(30):
        begin = rng.randrange(len(text) + 1)
        finish = min(len(text), begin + rng.choice([0, 0, 1, 2, 4]))
        new = "".join(rng.choice(PIECES) for _ in range(rng.choice([0, 1, 1, 2, 3])))
        text = text[:begin] + new + text[finish:]
        index.replace(begin, finish, new, text)
        expected = [0, *line_starts_after_breaks(text)]
        assert [index.start(i) for i in range(len(index))] == expected
        for offset in range(len(text) + 1):
            assert index.line_of(offset) == bisect.bisect_right(expected, offset) - 1


def test_typing_along_a_line_touches_no_other_line() -> None:
    text = "x\n" * 10_000
    index = LineIndex(text)
    stored = index._starts
    offset = 2 * 5000
    for char in "hello":
        text = text[:offset] + char + text[offset:]
        index.replace(offset, offset, char, text)
        offset += 1
    # The 4,999 starts below the edit still hold their old values; the shift is pending.
    assert stored[5001:] == [2 * i for i in range(5001, 10_001)]
    assert index.start(5001) == 2 * 5001 + 5
