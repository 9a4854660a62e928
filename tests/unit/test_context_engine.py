"""The context block stays the same object while typing, and is recomputed when the cursor
enters another statement or a definition it shows changes."""

from __future__ import annotations

from pathlib import Path

from lsp_assist.context.engine import ContextEngine
from lsp_assist.context.index import WorkspaceIndex
from lsp_assist.context.tags import Import
from lsp_assist.documents import Document
from lsp_assist.languages import language_for
from lsp_assist.prompts.templates import ContextFile

from .tag_index import MemoryIndex, symbol, tags

TEXT = (
    "from pkg.net import send\n"
    "from pkg.store import save\n"
    "\n"
    "\n"
    "def run(request):\n"
    "    answer = send(request)\n"
    "    save(answer)\n"
)
SEND = symbol("pkg/net.py", "send", 3, signature="def send(request: Request) -> Response:")
SAVE = symbol("pkg/store.py", "save", 8, signature="def save(answer: Response) -> None:")
MAIN = tags(
    "main.py",
    [symbol("main.py", "run", 4, signature="def run(request):", end_line=6)],
    [Import("pkg.net", "send", "send"), Import("pkg.store", "save", "save")],
)


def workspace() -> MemoryIndex:
    return MemoryIndex([tags("pkg/net.py", [SEND]), tags("pkg/store.py", [SAVE]), MAIN])


def typed(document: Document, text: str) -> int:
    """Types `text` at the end of the document, one character at a time; the cursor after."""
    for char in text:
        end = len(document.text)
        document.replace(end, end, char)
    return len(document.text)


def test_typing_along_a_line_returns_the_same_tuple_object() -> None:
    document = Document("file:///w/main.py", TEXT + "    print(send(", language_id="python")
    engine, index = ContextEngine(Path("/w")), workspace()
    first = engine.context_for(document.snapshot(), len(document.text), [], index)
    assert any("def send(" in f.text for f in first)
    answers = []
    for char in "request, timeout=3, retries=2":
        offset = typed(document, char)
        answers.append(engine.context_for(document.snapshot(), offset, [], index))
    assert all(answer is first for answer in answers)
    assert engine.stats.recomputed == 1


def test_finishing_a_call_that_resolves_recomputes_once() -> None:
    document = Document("file:///w/main.py", TEXT + "    ", language_id="python")
    engine, index = ContextEngine(Path("/w")), workspace()
    before = engine.context_for(document.snapshot(), len(document.text), [], index)
    offset = typed(document, "save")
    assert engine.context_for(document.snapshot(), offset, [], index) is before
    offset = typed(document, "(")
    after = engine.context_for(document.snapshot(), offset, [], index)
    assert [f.path for f in after][-1] == "pkg/store.py"  # the callee now comes last
    offset = typed(document, "answer")
    assert engine.context_for(document.snapshot(), offset, [], index) is after


def test_moving_to_another_statement_recomputes() -> None:
    text = TEXT + "\n\ndef other(x):\n    y = x + 1\n    return y\n"
    document = Document("file:///w/main.py", text, language_id="python")
    engine, index = ContextEngine(Path("/w")), workspace()
    in_run = engine.context_for(document.snapshot(), text.index("send(request)") + 5, [], index)
    in_other = engine.context_for(document.snapshot(), text.index("y = x"), [], index)
    assert any("def send(" in f.text for f in in_run)
    assert in_other == ()
    assert engine.stats.recomputed == 2


def test_a_new_line_in_the_same_statement_with_nothing_new_keeps_the_object() -> None:
    document = Document("file:///w/main.py", TEXT + "    result = send(", language_id="python")
    engine, index = ContextEngine(Path("/w")), workspace()
    first = engine.context_for(document.snapshot(), len(document.text), [], index)
    offset = typed(document, "\n        request,\n        ")
    assert engine.context_for(document.snapshot(), offset, [], index) is first


def test_a_changed_definition_that_the_context_shows_recomputes_it() -> None:
    document = Document("file:///w/main.py", TEXT + "    send(", language_id="python")
    engine, index = ContextEngine(Path("/w")), workspace()
    offset = len(document.text)
    first = engine.context_for(document.snapshot(), offset, [], index)
    changed = symbol("pkg/net.py", "send", 3, signature="def send(request, *, retries: int):")
    index.put(tags("pkg/net.py", [changed]))
    second = engine.context_for(document.snapshot(), offset, [], index)
    assert second is not first
    assert ContextFile("pkg/net.py", "def send(request, *, retries: int):\n    ...\n") in second


def test_changes_elsewhere_in_the_workspace_keep_the_object() -> None:
    document = Document("file:///w/main.py", TEXT + "    send(", language_id="python")
    engine, index = ContextEngine(Path("/w")), workspace()
    offset = len(document.text)
    first = engine.context_for(document.snapshot(), offset, [], index)
    index.put(tags("pkg/unrelated.py", [symbol("pkg/unrelated.py", "other")]))
    moved = symbol("pkg/net.py", "send", 9, signature=SEND.signature)  # lines above it added
    index.put(tags("pkg/net.py", [symbol("pkg/net.py", "helper", 1), moved]))
    assert engine.context_for(document.snapshot(), offset, [], index) is first
    assert engine.stats.recomputed == 1


def test_an_equal_recomputation_answers_the_previous_object() -> None:
    document = Document("file:///w/main.py", TEXT + "    send(", language_id="python")
    engine, index = ContextEngine(Path("/w")), workspace()
    first = engine.context_for(document.snapshot(), len(document.text), [], index)
    document.replace(0, 0, "\n")  # every line moves down: another statement line
    second = engine.context_for(document.snapshot(), len(document.text), [], index)
    assert second is first
    assert engine.stats.unchanged == 1


def test_a_recently_edited_region_of_the_file_is_similar_code() -> None:
    region = "".join(
        f"def total_{i}(order, catalog):\n    return sum(catalog.price(item) for item in order)\n"
        for i in range(3)
    )
    text = region + "\n" * 120 + "def invoice(order, catalog):\n    lines = [catalog.price("
    document = Document("file:///w/main.py", text, language_id="python")
    engine = ContextEngine(Path("/w"))
    assert engine.context_for(document.snapshot(), len(text), [], None) == ()
    engine.note_edit(document.uri, 2)
    offset = typed(document, ")]\n\n\ndef again(order, catalog):\n    return catalog.price(")
    files = engine.context_for(document.snapshot(), offset, [], None)  # another statement
    assert len(files) == 1 and "def total_0(order, catalog):" in files[0].text


def test_documents_outside_the_workspace_are_named_by_their_file_name() -> None:
    engine = ContextEngine(Path("/w"))
    assert engine.path_of("file:///w/pkg/net.py") == "pkg/net.py"
    assert engine.path_of("file:///elsewhere/net.py") == "net.py"
    assert engine.path_of("untitled:Untitled-1") == "untitled:Untitled-1"


SIMILAR = (
    "def total(order, catalog):\n    return sum(catalog.price(item) for item in order.items)\n"
)


def test_secret_and_excluded_buffers_are_never_similar_code_even_when_open() -> None:
    text = "def invoice(order, catalog):\n    lines = [catalog.price(item) for item in order"
    current = Document("file:///w/main.py", text, language_id="python").snapshot()
    shown = Document("file:///w/billing.py", SIMILAR, language_id="python").snapshot()
    hidden = [
        Document("file:///w/.env.py", SIMILAR, language_id="python").snapshot(),
        Document("file:///w/gen/billing.py", SIMILAR, language_id="python").snapshot(),
    ]
    engine = ContextEngine(Path("/w"), exclude=("gen/",))
    files = engine.context_for(current, len(text), [*hidden, shown], None)
    assert [f.path for f in files] == ["billing.py"]


def test_definitions_in_excluded_files_are_left_out() -> None:
    document = Document("file:///w/main.py", TEXT + "    send(", language_id="python")
    engine = ContextEngine(Path("/w"), exclude=("pkg/net.py",))
    files = engine.context_for(document.snapshot(), len(document.text), [], workspace())
    assert "pkg/net.py" not in [f.path for f in files]


def test_a_cursor_between_cr_and_lf_gets_the_lines_context() -> None:
    text = "from pkg.net import send\r\nsend(\r\n"
    document = Document("file:///w/main.py", text, language_id="python")
    engine = ContextEngine(Path("/w"))
    index = MemoryIndex([tags("pkg/net.py", [SEND]), tags("main.py", imports=MAIN.imports)])
    files = engine.context_for(document.snapshot(), text.index("(") + 2, [], index)
    assert [f.path for f in files] == ["pkg/net.py"]


# -- with the real index and extractor -------------------------------------------------------

NET_SOURCE = '''"""Networking."""


class Client:
    """A connection to the service."""

    def send(self, request: bytes, *, timeout: float = 5.0) -> bytes:
        """Sends one request and waits for its answer."""
        secret_body = request * 2
        return secret_body

    def close(self) -> None:
        pass
'''
API_SOURCE = "export function fetchUser(id: string): Promise<User> {\n  return get(id);\n}\n"


def real_workspace() -> WorkspaceIndex:
    index = WorkspaceIndex(Path("/w"))
    index.index_text("pkg/net.py", NET_SOURCE, language_for("python"))
    index.index_text("web/api/users.ts", API_SOURCE, language_for("typescript"))
    index.index_text("web/api/index.ts", 'export * from "./users";\n', language_for("typescript"))
    return index


def test_the_real_index_gives_the_callees_signature_and_doc_not_its_body() -> None:
    index = real_workspace()
    text = "from pkg.net import Client\n\n\ndef run(client: Client) -> None:\n    client.send("
    index.index_text("main.py", text, language_for("python"))
    document = Document("file:///w/main.py", text, language_id="python")
    files = ContextEngine(Path("/w")).context_for(document.snapshot(), len(text), [], index)
    assert [f.path for f in files] == ["pkg/net.py"]
    shown = files[0].text
    assert "def send(self, request: bytes, *, timeout: float = 5.0) -> bytes:" in shown
    assert "Sends one request and waits for its answer." in shown
    assert "secret_body" not in shown


def test_the_real_index_follows_a_ts_reexport_to_the_callee() -> None:
    index = real_workspace()
    text = 'import { fetchUser } from "./api";\n\nexport function show(id: string) {\n  fetchUser('
    index.index_text("web/app.ts", text, language_for("typescript"))
    document = Document("file:///w/web/app.ts", text, language_id="typescript")
    files = ContextEngine(Path("/w")).context_for(document.snapshot(), len(text), [], index)
    assert [f.path for f in files] == ["web/api/users.ts"]
    assert "function fetchUser(id: string): Promise<User>" in files[0].text


def test_re_indexing_the_current_buffer_on_every_keystroke_keeps_the_object() -> None:
    index = real_workspace()
    text = "from pkg.net import Client\n\n\ndef run(client: Client) -> None:\n    client.send("
    document = Document("file:///w/main.py", text, language_id="python")
    index.index_text("main.py", document.text, language_for("python"))
    engine = ContextEngine(Path("/w"))
    first = engine.context_for(document.snapshot(), len(document.text), [], index)
    for char in "b'ping', timeout=2.5":
        offset = typed(document, char)
        index.index_text("main.py", document.text, language_for("python"))
        assert engine.context_for(document.snapshot(), offset, [], index) is first
    assert engine.stats.recomputed == 1
