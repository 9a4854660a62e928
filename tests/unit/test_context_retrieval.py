"""Retrieval: what the cursor's context holds, in what order, under what budget."""

from __future__ import annotations

import time
from pathlib import Path

from lsp_assist.context.cursor import names_at
from lsp_assist.context.engine import ContextEngine
from lsp_assist.context.packing import Entry, Snippet, pack
from lsp_assist.context.retrieval import CodeWindows, identifiers, similar_snippets
from lsp_assist.context.tags import Import
from lsp_assist.documents import Document, DocumentSnapshot
from lsp_assist.prompts.templates import ContextFile

from .tag_index import MemoryIndex, symbol, tags

ROOT = Path("/w")

NET = tags(
    "pkg/net.py",
    [
        symbol("pkg/net.py", "Client", 0, kind="class", signature="class Client:", end_line=30),
        symbol(
            "pkg/net.py",
            "send",
            5,
            kind="method",
            container="Client",
            signature="def send(self, request: Request, *, timeout: float = 5) -> Response:",
            doc="Sends one request and waits for its answer.",
        ),
        symbol("pkg/net.py", "close", 20, kind="method", container="Client"),
    ],
)
REQUESTS = tags(
    "pkg/requests.py",
    [symbol("pkg/requests.py", "build", 3, signature="def build(path: str) -> Request:")],
)
MAIN_TEXT = (
    "from pkg.net import Client\n"
    "from pkg.requests import build\n"
    "\n"
    "\n"
    "def run(client: Client) -> None:\n"
    "    request = build('/x')\n"
    "    client.send("
)
MAIN = tags(
    "main.py",
    [symbol("main.py", "run", 4, signature="def run(client: Client) -> None:")],
    [Import("pkg.net", "Client", "Client"), Import("pkg.requests", "build", "build")],
)


def snapshot(text: str, path: str = "main.py", language: str = "python") -> DocumentSnapshot:
    return Document(f"file:///w/{path}", text, language_id=language).snapshot()


def context(
    text: str,
    index: MemoryIndex | None,
    *,
    offset: int | None = None,
    open_documents: tuple[DocumentSnapshot, ...] = (),
    budget: int = 4096,
    path: str = "main.py",
    language: str = "python",
) -> tuple[ContextFile, ...]:
    view = snapshot(text, path, language)
    engine = ContextEngine(ROOT, budget=budget)
    where = len(text) if offset is None else offset
    return engine.context_for(view, where, open_documents, index)


def test_the_callee_at_the_cursor_is_the_call_being_written() -> None:
    names = names_at(snapshot(MAIN_TEXT + "request, timeout=f(1), "), len(MAIN_TEXT) + 23)
    assert names.callee == ("client", "send")
    assert ("request",) in names.statement or ("request",) in names.function


def test_the_callee_after_a_100_kb_line_of_one_word_is_found_at_once() -> None:
    # Found by fuzzing: the callee's pattern, searched through all the text before the `(`,
    # took minutes on such a line, and the server answered nothing meanwhile.
    text = "x" * 100_000 + ";send("
    started = time.perf_counter()
    assert names_at(snapshot(text), len(text)).callee == ("send",)
    assert time.perf_counter() - started < 2  # 5 ms here; 6 s for 8 kB before


def test_the_word_being_typed_is_not_a_name_yet() -> None:
    text = "def run():\n    total = compute_to"
    names = names_at(snapshot(text), len(text))
    assert ("compute_to",) not in names.statement
    assert ("total",) in names.statement


def test_names_in_strings_and_comments_are_not_looked_up() -> None:
    text = "def run():\n    x = 'helper'  # other_helper\n    y = real_helper(x)\n    "
    names = names_at(snapshot(text), len(text))
    found = {chain[-1] for chain in names.function + names.statement}
    assert "real_helper" in found
    assert not {"helper", "other_helper"} & found


def test_the_callees_definition_is_in_the_context_with_its_doc() -> None:
    files = context(MAIN_TEXT, MemoryIndex([NET, REQUESTS, MAIN]))
    net = {f.path: f.text for f in files}["pkg/net.py"]
    assert "def send(self, request: Request, *, timeout: float = 5) -> Response:" in net
    assert "Sends one request and waits for its answer." in net
    assert net.startswith("class Client:")  # the method under its class header


def test_the_callees_file_comes_last_next_to_the_current_file() -> None:
    files = context(MAIN_TEXT, MemoryIndex([NET, REQUESTS, MAIN]))
    assert [f.path for f in files] == ["pkg/requests.py", "pkg/net.py"]


def test_definitions_show_signatures_not_bodies() -> None:
    files = context(MAIN_TEXT, MemoryIndex([NET, REQUESTS, MAIN]))
    requests = {f.path: f.text for f in files}["pkg/requests.py"]
    assert requests == "def build(path: str) -> Request:\n    ...\n"


def test_a_js_callee_is_resolved_through_its_relative_import() -> None:
    api = tags(
        "src/api.ts",
        [
            symbol(
                "src/api.ts",
                "fetchUser",
                4,
                signature="export async function fetchUser(id: string): Promise<User>",
                doc="Loads one user.",
            )
        ],
        language="typescript",
    )
    text = (
        'import { fetchUser } from "./api";\n\n'
        "async function show(id: string) {\n  await fetchUser("
    )
    imported = [Import("./api", "fetchUser", "fetchUser")]
    current = tags("src/app.ts", imports=imported, language="typescript")
    files = context(text, MemoryIndex([api, current]), path="src/app.ts", language="typescript")
    assert files == (
        ContextFile(
            "src/api.ts",
            "// Loads one user.\nexport async function fetchUser(id: string): Promise<User>\n",
        ),
    )


def test_a_definition_inside_the_local_window_is_not_repeated() -> None:
    text = "def helper(x):\n    return x\n\n\ndef run():\n    helper("
    current = tags("main.py", [symbol("main.py", "helper", 0, signature="def helper(x):")])
    assert context(text, MemoryIndex([current])) == ()


def test_a_definition_of_the_current_file_far_above_the_cursor_is_included() -> None:
    filler = "".join(f"value_{i} = {i}\n" for i in range(100))
    text = "def helper(x):\n    return x\n\n" + filler + "\ndef run():\n    helper("
    current = tags("main.py", [symbol("main.py", "helper", 0, signature="def helper(x):")])
    files = context(text, MemoryIndex([current]))
    assert files == (ContextFile("main.py", "def helper(x):\n    ...\n"),)


def test_in_a_method_the_class_header_and_other_method_signatures_are_included() -> None:
    methods = "".join(f"    def step_{i}(self):\n" + "        pass\n" * 8 + "\n" for i in range(12))
    text = "class Job:\n    '''A job.'''\n\n" + methods + "    def run(self):\n        self."
    lines = text.count("\n")
    symbols = [symbol("main.py", "Job", 0, kind="class", signature="class Job:", end_line=lines)]
    symbols += [
        symbol(
            "main.py",
            f"step_{i}",
            3 + 10 * i,
            kind="method",
            container="Job",
            signature=f"def step_{i}(self):",
        )
        for i in range(12)
    ]
    files = context(text, MemoryIndex([tags("main.py", symbols)]))
    assert len(files) == 1 and files[0].path == "main.py"
    shown = files[0].text
    assert shown.startswith("class Job:\n")
    assert "    def step_0(self):" in shown
    assert "step_11" not in shown  # inside the local window: the prompt shows it already


# -- similar code ----------------------------------------------------------------------------

LOCAL = "\n".join(
    [
        "def total_price(order, catalog):",
        "    subtotal = sum(catalog.price(item) * item.quantity for item in order.items)",
        "    discount = order.customer.discount_rate * subtotal",
        "    shipping = catalog.shipping_cost(order.destination)",
        "    return subtotal - discount + shipping",
        "",
        "",
        "def invoice_lines(order, catalog):",
        "    ",
    ]
)
NEAR_COPY = LOCAL.replace("total_price", "total_price_v2").replace("    ", "  ")
RELATED = "\n".join(
    [
        "def refund(order, catalog, reason):",
        "    amount = sum(catalog.price(item) for item in order.items)",
        "    record_refund(order.customer, amount, reason)",
        "    notify_customer(order.customer, reason)",
    ]
)
UNRELATED = "\n".join(["import os", "", "def main():", "    print(os.getcwd())"])


def test_similar_code_from_an_open_buffer_is_included() -> None:
    other = snapshot(UNRELATED + "\n" * 30 + RELATED + "\n", "billing/refunds.py")
    files = context(LOCAL, None, open_documents=(other,))
    assert len(files) == 1 and files[0].path == "billing/refunds.py"
    assert "def refund(order, catalog, reason):" in files[0].text


def test_a_near_copy_of_the_local_window_is_dropped() -> None:
    copy = snapshot(NEAR_COPY + "\n", "billing/old.py")
    assert context(LOCAL, None, open_documents=(copy,)) == ()


def test_near_duplicates_of_each_other_are_kept_once() -> None:
    first = snapshot(RELATED + "\n", "a/refunds.py")
    second = snapshot(RELATED.replace("reason", "why") + "\n", "b/refunds.py")
    files = context(LOCAL, None, open_documents=(second, first))
    assert [f.path for f in files] == ["a/refunds.py"]


def test_other_languages_are_not_similar_code() -> None:
    other = snapshot(RELATED + "\n", "billing/refunds.go", "go")
    assert context(LOCAL, None, open_documents=(other,)) == ()


def test_similarity_ranks_windows_and_drops_too_similar_ones() -> None:
    query = identifiers(LOCAL)
    buffers = [
        CodeWindows.of("copy.py", NEAR_COPY.splitlines()),
        CodeWindows.of("related.py", RELATED.splitlines()),
        CodeWindows.of("unrelated.py", UNRELATED.splitlines()),
    ]
    found = similar_snippets(query, buffers, [], current_path="main.py", local=range(0, 30))
    assert [s.entries[0].path for s in found] == ["related.py"]


# -- order and budget ------------------------------------------------------------------------


def test_the_order_does_not_depend_on_the_order_things_arrive_in() -> None:
    other_a = snapshot(RELATED + "\n", "a/refunds.py")
    other_b = snapshot(UNRELATED + "\n" * 30 + RELATED.replace("refund", "credit") + "\n", "b.py")
    text = MAIN_TEXT.replace("client.send(", LOCAL.replace("\n", "\n    ") + "\n    client.send(")
    one = context(text, MemoryIndex([NET, REQUESTS, MAIN]), open_documents=(other_a, other_b))
    two = context(text, MemoryIndex([MAIN, REQUESTS, NET]), open_documents=(other_b, other_a))
    assert one == two
    assert [f.path for f in one][-2:] == ["pkg/requests.py", "pkg/net.py"]


def test_packing_keeps_to_the_budget_in_priority_order() -> None:
    snippets = [
        Snippet(0, (Entry("z.py", 5, 5, "def callee(): ..."),)),
        Snippet(1, (Entry("a.py", 1, 1, "x" * 300),)),
        Snippet(2, (Entry("z.py", 1, 1, "def other(): ..."),)),
    ]
    files = pack(snippets, 100)
    assert files == (ContextFile("z.py", "def other(): ...\n\ndef callee(): ...\n"),)
    assert sum(len(f.text) + len(f.path) for f in files) <= 100


def test_a_small_budget_keeps_the_callee_first() -> None:
    files = context(MAIN_TEXT, MemoryIndex([NET, REQUESTS, MAIN]), budget=200)
    assert [f.path for f in files] == ["pkg/net.py"]
    assert "def send(" in files[0].text


def test_after_a_function_its_names_are_no_longer_wanted() -> None:
    text = "def run():\n    y = real_helper(1)\n\n\n"
    assert names_at(snapshot(text), len(text)).function == ()
    inside = text.rstrip("\n") + "\n    "
    assert ("real_helper",) in names_at(snapshot(inside), len(inside)).function
