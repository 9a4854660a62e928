"""benchmarks/context_recall.py on a workspace of four small files: the tasks it cuts, how it
grades a context block and what it reports. Nothing is downloaded and no engine is timed: the
context engine is replaced by one that answers what the test tells it to."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from benchmarks import context_recall
from benchmarks.context_corpus import REPOSITORIES, _wanted
from benchmarks.context_recall import NOT_PACKED, NOT_RESOLVED, PASS, WRONG, ContextApi
from benchmarks.context_tasks import Definition, Task, find_tasks, holds_definition
from lsp_assist.prompts.templates import ContextFile

FILES = {
    "pkg/net.py": (
        "class Client:\n"
        "    def send(self, request: str,\n"
        "             timeout: float = 5) -> str:\n"
        "        return request\n"
        "\n"
        "def connect(host):\n"
        "    def local_helper():\n"
        "        pass\n"
        "    return Client()\n"
    ),
    "pkg/app.py": (
        "from pkg.net import connect\n"
        "\n"
        "def main():\n"
        "    client = connect('example.org')\n"
        "    client.send('GET /', timeout=1)\n"
        "    ', '.join(['a'])\n"
        "    local_helper()\n"
    ),
    "web/util.js": "export const toUrl = (base, path) => base + path;\n",
    "web/main.js": (
        "import { toUrl } from './util.js';\n"
        "const url = toUrl('http://x', '/y');\n"
        "Promise.resolve(url);\n"
    ),
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    for path, text in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    return tmp_path


def tasks_by_callee(workspace: Path) -> dict[str, Task]:
    tasks, found = find_tasks("demo", workspace)
    assert found == len(tasks)
    return {task.callee: task for task in tasks}


def test_a_task_is_a_call_cut_after_its_paren_to_a_definition_in_another_file(
    workspace: Path,
) -> None:
    tasks = tasks_by_callee(workspace)
    assert sorted(tasks) == ["connect", "send", "toUrl"]
    send = tasks["send"]
    assert send.path == "pkg/app.py" and send.line == 4
    assert send.cut.endswith("    client.send(")
    assert send.rest_of_line == "'GET /', timeout=1)"
    assert send.chain == ("client", "send")
    assert (send.definition.path, send.definition.line) == ("pkg/net.py", 1)
    assert send.definition.key == "defsend(self,request:str,timeout:float=5)->str"
    assert tasks["toUrl"].definition.key == "toUrl=(base,path)=>"
    assert tasks["toUrl"].language_id == "javascript"


def test_literal_receivers_builtin_globals_and_local_functions_make_no_task(
    workspace: Path,
) -> None:
    callees = set(tasks_by_callee(workspace))
    assert not callees & {"join", "resolve", "local_helper", "Client"}


def definition(name: str, signature: str) -> Definition:
    return Definition(name, "x", "", 0, signature, signature)


def test_a_class_header_does_not_pass_for_a_longer_name() -> None:
    auth = definition("Auth", "class Auth:")
    assert holds_definition("# a.py\nclass Auth:\n    ...", auth)
    assert not holds_definition("# a.py\nclass AuthFlow:\n", auth)
    assert holds_definition("class Auth\nclass Flow\n", auth)


def test_a_method_header_must_start_a_line_so_a_call_does_not_pass() -> None:
    read = definition("read", "read(name) {")
    assert read.key == "read(name)" and not read.keyword
    assert holds_definition("const cookies = {\n  async read(name) {", read)
    assert holds_definition("  read(name)", read)
    assert holds_definition("class Cookies\n    read(name)\n    write(name)\n", read)
    assert not holds_definition("const value = cookies.read(name);", read)
    assert not holds_definition("  unread(name)", read)


def fake_api(answer: Any) -> ContextApi:
    """A context engine that answers `answer(task_text)`; failures are told by the block."""
    return ContextApi(
        build_index=lambda root: root,
        new_engine=lambda root: None,
        context_for=lambda engine, snapshot, offset, index: answer(snapshot.text),
    )


def run(workspace: Path, answer: Any, callee: str) -> context_recall.Outcome:
    task = tasks_by_callee(workspace)[callee]
    return context_recall.run_task(fake_api(answer), None, workspace, workspace, task)


def test_the_definition_reformatted_on_one_line_passes(workspace: Path) -> None:
    signature = "def send(self, request: str, timeout: float = 5) -> str:"
    block = (ContextFile("pkg/net.py", f"class Client:\n    {signature}\n"),)
    outcome = run(workspace, lambda text: block, "send")
    assert outcome.verdict == PASS
    assert outcome.paths == ["pkg/net.py"]
    assert len(outcome.typing_ms) == context_recall.TYPED_CHARACTERS
    assert outcome.stable == context_recall.TYPED_CHARACTERS


def test_failures_are_told_apart(workspace: Path) -> None:
    assert run(workspace, lambda text: (), "connect").verdict == NOT_RESOLVED
    header_only = (ContextFile("pkg/net.py", "class Client:\n"),)
    assert run(workspace, lambda text: header_only, "connect").verdict == NOT_PACKED
    other = (ContextFile("other.py", "def connect(url, retries):\n"),)
    assert run(workspace, lambda text: other, "connect").verdict == WRONG


def test_a_block_that_changes_while_typing_is_not_counted_stable(workspace: Path) -> None:
    outcome = run(workspace, lambda text: (ContextFile("x.py", text[-3:]),), "send")
    assert outcome.stable == 0


def test_the_report_has_a_row_per_repository_and_language_and_failure_examples(
    workspace: Path,
) -> None:
    api = fake_api(lambda text: ())
    repo = context_recall.measure(api, "demo", "python", workspace, limit=10, seed=1)
    summary = repo.summary()
    assert summary["tasks"] == 3 and summary["recall"] == 0.0
    assert summary["verdicts"][NOT_RESOLVED] == 3
    assert summary["typing_ms"]["n"] > 0
    languages = context_recall.by_language([repo])
    assert languages["python"]["meets_target"] is False
    failures = context_recall.failure_examples([repo], per_category=2)
    assert len(failures[NOT_RESOLVED]) == 2
    report = {"repositories": {"demo": summary}, "languages": languages, "failures": failures}
    summary["provenance"] = {
        "repository": "demo==1",
        "registry": "pypi",
        "archive": "demo-1.tar.gz",
        "sha256": "0" * 64,
    }
    printed = io.StringIO()
    with redirect_stdout(printed):
        context_recall.print_report(report)
    assert "demo" in printed.getvalue() and "not resolved:" in printed.getvalue()


def test_the_corpus_is_pinned_and_never_takes_bundles() -> None:
    assert {r.language for r in REPOSITORIES} == {"python", "js/ts"}
    assert all(r.version[0].isdigit() for r in REPOSITORIES)
    assert _wanted(PurePosixPath("lib/core/Axios.js"), ("lib/", "index.js"))
    assert not _wanted(PurePosixPath("dist/axios.js"), ("lib/", "index.js"))
    assert not _wanted(PurePosixPath("lib/README.md"), ("lib/",))
