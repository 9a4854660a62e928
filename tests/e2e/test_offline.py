"""The offline engine end to end: completions from the workspace's own code when no model
server answers, labelled as such, and the switch back when Ollama answers again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from tests.e2e.editor import Editor, editor_session
from tests.fakes.fake_ollama import FakeOllama, unused_url

ORDERS = "".join(
    f"class Order{i}:\n"
    f"    def __init__(self, items, limit={i}):\n"
    f"        self.items = list(items)\n"
    f"        self.limit = limit\n\n"
    f"    def price(self, discount=0.0):\n"
    f"        return sum(item.cost for item in self.items)\n\n\n"
    for i in range(6)
)
NEW = "class Basket:\n    def __init__(self, items):\n        self.items = li\n"
CURSOR = NEW.index("= li") + len("= li")


async def ask_in_new_file(editor: Editor) -> types.InlineCompletionList | None:
    editor.open("orders.py", ORDERS)
    uri = editor.open("basket.py", NEW)
    return await editor.inline(uri, CURSOR)


async def learnt(editor: Editor) -> None:
    """Waits for the server to say it has learnt the workspace."""

    async def wait() -> None:
        while not any(getattr(s, "state", None) == "learnt" for s in editor.statuses):
            await editor.client.wait_for_notification("lspAssist/status")

    await asyncio.wait_for(wait(), 20)


def ready_sources(editor: Editor) -> list[str]:
    return [s.source for s in editor.statuses if getattr(s, "state", None) == "ready"]


async def test_the_offline_engine_completes_from_the_workspace_code(
    fake_ollama: FakeOllama,
) -> None:
    async with editor_session(
        fake_ollama.url, settings={"completion": {"backend": "offline"}}
    ) as editor:
        result = await ask_in_new_file(editor)
        await editor.round_trip()
    assert result is not None and result.items[0].insert_text == "st(items)"
    assert ready_sources(editor) == ["offline"]
    assert fake_ollama.generate_requests == []


async def test_offline_completion_items_are_definitions_labelled_as_the_offline_engine(
    fake_ollama: FakeOllama,
) -> None:
    async with editor_session(
        fake_ollama.url, settings={"completion": {"backend": "offline"}}
    ) as editor:
        editor.open("orders.py", ORDERS)
        text = "total = Order3(items).pri\n"
        uri = editor.open("use.py", text)
        result = await editor.completion(uri, len("total = Or"))
    assert result is not None
    labels = {item.label: item for item in result.items}
    assert "Order3" in labels
    detail = labels["Order3"].detail or ""
    assert "class Order3" in detail and "offline engine" in detail


async def test_with_ollama_down_the_offline_engine_serves_and_says_so_once() -> None:
    async with editor_session(unused_url()) as editor:
        first = await ask_in_new_file(editor)
        uri = "file:///workspace/basket.py"
        offset = editor.type(uri, CURSOR, "s")
        second = await editor.inline(uri, offset)
        messages = await editor.wait_for_message(1)
        await editor.round_trip()
    assert first is not None and first.items[0].insert_text == "st(items)"
    assert second is not None and second.items[0].insert_text == "t(items)"
    assert len(messages) == 1
    assert "not reachable" in messages[0] and "offline engine" in messages[0]
    assert ready_sources(editor) == ["offline", "type-through"]


async def test_the_model_takes_over_again_when_ollama_answers() -> None:
    url = unused_url()
    port = int(url.rsplit(":", 1)[1])
    async with editor_session(url) as editor:
        offline = await ask_in_new_file(editor)
        assert offline is not None
        with FakeOllama(port=port, ttft=0.005, token_delay=0.001) as fake:
            fake.reply_with("t(items)")
            messages = await editor.wait_for_message(2, timeout=20)
            assert "answers again" in messages[1]
            uri = "file:///workspace/basket.py"
            offset = editor.type(uri, CURSOR, "s")
            back = await editor.inline(uri, offset)
            await editor.round_trip()
    assert back is not None and back.items[0].insert_text == "t(items)"
    assert ready_sources(editor)[-1] == "model"


async def test_workspace_files_on_disk_are_learnt(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    (tmp_path / "orders.py").write_text(ORDERS)
    async with editor_session(
        fake_ollama.url,
        settings={"completion": {"backend": "offline"}},
        root_uri=tmp_path.as_uri(),
    ) as editor:
        await learnt(editor)
        uri = editor.open("basket.py", NEW)
        assert await editor.ghost_text(uri, CURSOR) == "st(items)"
    (status,) = [s for s in editor.statuses if getattr(s, "state", None) == "learnt"]
    assert status.files == 1


async def test_typing_through_an_offline_suggestion_keeps_the_rest_on_screen(
    fake_ollama: FakeOllama,
) -> None:
    async with editor_session(
        fake_ollama.url, settings={"completion": {"backend": "offline"}}
    ) as editor:
        await ask_in_new_file(editor)
        uri = "file:///workspace/basket.py"
        offset = editor.type(uri, CURSOR, "st(")
        assert await editor.ghost_text(uri, offset) == "items)"
        await editor.round_trip()
    assert ready_sources(editor) == ["offline", "type-through"]


async def test_a_file_changed_on_disk_is_learnt_again_when_the_client_says_so(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    orders = tmp_path / "orders.py"
    orders.write_text(ORDERS)
    registrations: list[types.RegistrationParams] = []
    async with editor_session(
        fake_ollama.url,
        settings={"completion": {"backend": "offline"}},
        root_uri=tmp_path.as_uri(),
    ) as editor:

        @editor.client.feature(types.CLIENT_REGISTER_CAPABILITY)
        def on_register(params: types.RegistrationParams) -> None:
            registrations.append(params)

        await learnt(editor)
        uri = editor.open("basket.py", NEW)
        assert await editor.ghost_text(uri, CURSOR) == "st(items)"
        # A checkout rewrites the file: `tuple` where it said `list`.
        orders.write_text(ORDERS.replace("list(items)", "tuple(items)"))
        editor.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=orders.as_uri(), type=types.FileChangeType.Changed)]
            )
        )
        # The relearn runs in the background: ask until it shows, each time in the buffer
        # closed and opened again (so no cached suggestion answers and nothing else changes
        # what was learnt); each ask is a round trip.
        seen = []
        for _ in range(200):
            editor.client.text_document_did_close(
                types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri))
            )
            uri = editor.open("basket.py", NEW)
            seen.append(await editor.ghost_text(uri, CURSOR))
            if seen[-1] is None:  # the relearn is applied in slices: wait for all of it
                break
    assert seen[-1] is None  # `li` no longer starts anything the workspace repeats
    (registration,) = [r for p in registrations for r in p.registrations]
    assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
