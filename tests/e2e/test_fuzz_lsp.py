"""Fuzzing the LSP surface: random editing sessions (`fuzz_sequences.py`) played against one
`lsp-assist serve` per position encoding (`fuzz_runner.py`). After each sequence the server's
text, version, line index and incrementally edited tree must be those of the editor's buffer,
every request must have been answered in its own coordinates, and the server alive with no
error in its log.

The budget is fixed and the run deterministic (`derandomize`): ~200 sequences in ~15 s. Hypothesis
draws each sequence through one `Random` (`st.randoms`), so a failure shrinks to a short
sequence, printed op by op. `benchmarks/fuzz_lsp.py` runs 10,000 of them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.fuzz_model import ENCODINGS, joined, offset_at
from tests.e2e.fuzz_pipe import JsonRpcPipe
from tests.e2e.fuzz_runner import DOCUMENT_STATE, SERVER_COMMAND, FuzzServer, fuzz_reply
from tests.e2e.fuzz_sequences import INLINE, Change, Check, Open, generate_sequence
from tests.fakes.fake_ollama import FakeOllama, Reply


@pytest.mark.timeout(600)  # ~10 s when it passes; a failure takes longer to shrink
@pytest.mark.parametrize(("encoding", "examples"), [("utf-16", 100), ("utf-8", 50), ("utf-32", 50)])
async def test_random_edits_and_requests_leave_the_server_with_the_editors_text(
    fake_ollama: FakeOllama, encoding: str, examples: int
) -> None:
    fake_ollama.set_responder(fuzz_reply)
    server = FuzzServer(fake_ollama.url, encoding)
    await server.start()
    loop = asyncio.get_running_loop()
    numbers = itertools.count()

    # Hypothesis runs in a thread of its own; the sequences run on this loop, one server for all.
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.randoms(use_true_random=False))
    def sequence_holds(rng: random.Random) -> None:
        sequence = generate_sequence(rng, encoding)
        uri = f"file:///workspace/fuzz-{next(numbers)}{sequence.extension}"
        played = asyncio.run_coroutine_threadsafe(server.run(sequence, uri), loop)
        outcome = played.result(timeout=120)
        assert not outcome.failures, outcome.report(sequence)

    try:
        await asyncio.to_thread(sequence_holds)
    finally:
        await server.stop()


async def test_a_request_followed_at_once_by_an_edit_is_answered_where_it_was_asked(
    fake_ollama: FakeOllama,
) -> None:
    # Found by the fuzzing above: the request's handler took its snapshot after the edit.
    fake_ollama.set_responder(lambda body: Reply(text="a + b"))
    server = FuzzServer(fake_ollama.url, "utf-16")
    await server.start()
    pipe = server.pipe
    assert pipe is not None
    uri = "file:///workspace/add.py"
    text = "def add(a, b):\n    return \n"
    item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    try:
        pipe.notify("textDocument/didOpen", {"textDocument": item})
        cursor = {"line": 1, "character": len("    return ")}
        with pipe.together():  # as an editor sends a keystroke's request and the next edit
            answer = pipe.request(
                INLINE,
                {"textDocument": {"uri": uri}, "position": cursor, "context": {"triggerKind": 2}},
            )
            top = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
            pipe.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": 2},
                    "contentChanges": [{"range": top, "text": "import os\n"}],
                },
            )
        result = (await asyncio.wait_for(answer, 15)).result
        state = await pipe.call("workspace/executeCommand", {"command": DOCUMENT_STATE})
        assert state.error is None
    finally:
        await server.stop()
    # The suggestion is made in the version asked in (no `import os` yet), and placed there.
    assert all("import os" not in r.body["prompt"] for r in fake_ollama.generate_requests)
    assert result is not None and result["items"]
    assert result["items"][0]["range"]["start"] == cursor


@pytest.mark.parametrize(("flag", "listed"), [(None, False), ("1", True)])
async def test_the_debug_command_is_there_only_when_the_environment_asks_for_it(
    fake_ollama: FakeOllama, flag: str | None, listed: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LSP_ASSIST_DEBUG_COMMANDS"}
    if flag is not None:
        env["LSP_ASSIST_DEBUG_COMMANDS"] = flag
    pipe = await JsonRpcPipe.start(SERVER_COMMAND, env)
    try:
        options = {"ollama": {"host": fake_ollama.url}}
        params = {"processId": None, "capabilities": {}, "initializationOptions": options}
        answer = await pipe.call("initialize", params)
        pipe.notify("initialized", {})
        state = await pipe.call("workspace/executeCommand", {"command": DOCUMENT_STATE})
    finally:
        await pipe.stop()
    assert (
        DOCUMENT_STATE in answer.result["capabilities"]["executeCommandProvider"]["commands"]
    ) is listed
    assert (state.error is None) is listed  # an unknown command otherwise


# -- the editor's model (what the server is checked against) --------------------------------


def test_the_editors_model_follows_lsp_at_line_ends_and_past_the_end() -> None:
    text = "ab\r\ncd\re"
    assert offset_at(text, (0, 9), "utf-16") == 2  # before the "\r\n", never inside it
    assert offset_at(text, (1, 2), "utf-16") == 6
    assert offset_at(text, (7, 0), "utf-16") == len(text)


def test_the_editors_model_snaps_a_column_inside_a_character_to_its_start() -> None:
    text = "a😀b"
    assert offset_at(text, (0, 2), "utf-16") == 1  # between the halves, as VS Code does
    assert offset_at(text, (0, 3), "utf-8") == 1
    assert offset_at(text, (0, 2), "utf-32") == 2
    assert joined("\ud83d" + "\ude00") == "😀"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_editors_model_replays_its_own_sequences(encoding: str) -> None:
    for seed in range(100):
        sequence = generate_sequence(random.Random(seed), encoding)
        text = ""
        for op in sequence.ops:
            if isinstance(op, Open):
                text = op.text
            elif isinstance(op, Change):
                for edit in op.edits:
                    if edit.range is None:
                        text = joined(edit.text)
                        continue
                    begin = offset_at(text, edit.range[0], encoding)
                    end = offset_at(text, edit.range[1], encoding)
                    assert begin <= end
                    text = joined(text[:begin] + edit.text + text[end:])
            elif isinstance(op, Check):
                assert op.text == text, (seed, sequence.describe())
