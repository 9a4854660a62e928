"""Review diagnostics end to end: a real server over stdio, the fake Ollama answering
`/api/chat` with scripted JSON, and an editor that saves, edits and applies code actions."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.editor import Editor, editor_session
from tests.fakes.fake_ollama import FakeOllama, Reply, unused_url

pytestmark = pytest.mark.asyncio

BANK = """from decimal import Decimal


class Bank:
    def __init__(self):
        self.balances = {}

    def deposit(self, account, amount):
        self.balances[account] = self.balances.get(account, 0) + amount

    def withdraw(self, account, amount):
        balance = self.balances[account]
        if amount < balance:
            raise ValueError("insufficient funds")
        self.balances[account] = balance - amount
"""

BUG_LINE = "        if amount < balance:"


def finding(**fields: Any) -> dict[str, Any]:
    base = {
        "line": 3,
        "evidence": BUG_LINE.strip(),
        "trigger": "withdraw(a, 5) with a balance of 10 raises",
        "is_problem": True,
        "category": "logic",
        "confidence": "high",
        "message": "The comparison is inverted: it refuses withdrawals that are covered",
        "fix_old": "amount < balance",
        "fix_new": "amount > balance",
    }
    return base | fields


def reviews(
    answers: dict[str, list[dict[str, Any]] | str | Reply], default: str = '{"findings": []}'
) -> Callable[[dict[str, Any]], Reply]:
    """A responder: the review of the function whose `def NAME` is in the prompt gets the
    scripted findings (or raw text, or a whole Reply); completions get a plain answer."""

    def respond(body: dict[str, Any]) -> Reply:
        if "messages" not in body:
            return Reply(text="pass")
        prompt = body["messages"][-1]["content"]
        for name, answer in answers.items():
            if f"| {' ' * 4}def {name}(" in prompt or f"| def {name}(" in prompt:
                if isinstance(answer, Reply):
                    return answer
                text = answer if isinstance(answer, str) else json.dumps({"findings": answer})
                return Reply(text=text)
        return Reply(text=default)

    return respond


def review_calls(fake: FakeOllama, name: str | None = None) -> list[Any]:
    calls = [r for r in fake.chat_requests if r.body.get("format")]
    if name is None:
        return calls
    return [r for r in calls if f"def {name}(" in r.body["messages"][-1]["content"]]


async def saved_with_findings(editor: Editor, uri: str) -> list[types.Diagnostic]:
    editor.save(uri)
    return await editor.wait_for_diagnostics(uri)


async def test_saving_publishes_the_finding_on_the_quoted_code(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
    assert editor.quoted(uri, diagnostic) == "if amount < balance:"
    assert diagnostic.source == "lsp-assist"
    assert diagnostic.code == "logic"
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    assert diagnostic.message.startswith("The comparison is inverted")
    # Every function was reviewed once, with the review settings the issue asks for.
    calls = review_calls(fake_ollama)
    assert len(calls) == 3
    body = calls[0].body
    assert body["options"]["temperature"] == 0
    assert body["options"]["seed"] == 42
    assert body["options"]["num_ctx"] == 8192
    assert body["keep_alive"] == "30m"
    assert body["format"]["properties"]["findings"]["maxItems"] == 3
    assert body["model"] == "qwen2.5-coder:7b-instruct"


async def test_the_model_line_number_is_only_a_hint(fake_ollama: FakeOllama) -> None:
    # Line 1 is wrong (the bug is on line 3 of the unit): the quote decides.
    fake_ollama.set_responder(reviews({"withdraw": [finding(line=1)]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
    assert diagnostic.range.start.line == BANK.split("\n").index(BUG_LINE)


@pytest.mark.parametrize(
    "evidence",
    [
        "if  amount <   balance :",  # extra whitespace
        "3 | if amount < balance:",  # the number prefix of the numbered view leaked
        "+        if amount < balance:",  # a diff prefix
    ],
)
async def test_imperfect_quotes_are_still_placed_exactly(
    fake_ollama: FakeOllama, evidence: str
) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding(evidence=evidence)]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
    assert editor.quoted(uri, diagnostic) == "if amount < balance:"


async def test_a_quote_that_is_not_in_the_function_is_dropped(fake_ollama: FakeOllama) -> None:
    invented = finding(evidence="if amount <= self.limit:", line=3)
    real = finding(
        evidence="self.balances[account] = balance - amount",
        line=5,
        category="concurrency",
        message="Read-modify-write of the balance races with concurrent deposits",
        fix_old="",
        fix_new="",
    )
    fake_ollama.set_responder(reviews({"withdraw": [invented, real]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
    assert editor.quoted(uri, diagnostic) == "self.balances[account] = balance - amount"


@pytest.mark.parametrize(
    "first_reply",
    [
        # not JSON: a model that ignores the format (e.g. an MLX model)
        Reply(text="The function looks fine to me.", ignores_format=True),
        Reply(text='{"findings": [{"line": 3, "evidence": "if amount', done_reason="length"),
    ],
    ids=["not-json", "cut-at-length-limit"],
)
async def test_a_broken_answer_is_retried_once(fake_ollama: FakeOllama, first_reply: Reply) -> None:
    good = reviews({"withdraw": [finding()]})
    seen: list[int] = []

    def respond(body: dict[str, Any]) -> Reply:
        if "withdraw(" in body.get("messages", [{}])[-1].get("content", ""):
            seen.append(body["options"]["seed"])
            if len(seen) == 1:
                return first_reply
        return good(body)

    fake_ollama.set_responder(respond)
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
    assert editor.quoted(uri, diagnostic) == "if amount < balance:"
    assert len(seen) == 2 and seen[0] != seen[1]  # the retry changes the seed


async def test_an_answer_broken_twice_is_dropped_and_the_server_goes_on(
    fake_ollama: FakeOllama,
) -> None:
    broken = Reply(text="not json at all", ignores_format=True)
    fake_ollama.set_responder(reviews({"withdraw": broken}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        result = await editor.execute("lspAssist.reviewFile", uri)
        assert result["calls"] == 4  # two functions once, withdraw twice
        assert editor.diagnostics(uri) == []
        reviewed = [s for s in editor.statuses if getattr(s, "state", "") == "reviewed"]
        assert reviewed[-1].invalid == 2
        await editor.round_trip()  # and the server still answers


NOISE = [
    finding(message="Add a docstring to explain the function", category="api_misuse"),
    finding(message="Add type hints for account and amount", line=1, evidence="def withdraw"),
    finding(message="Rename balance to a more descriptive name", category="logic"),
    finding(message="Might be wrong", confidence="low"),
    finding(is_problem=False),
]


# An answer holds at most maxFindings (3) findings: the schema's maxItems.
@pytest.mark.parametrize("noise", [NOISE[:3], NOISE[3:]], ids=["style", "unsure"])
async def test_noise_is_not_shown(fake_ollama: FakeOllama, noise: list[dict[str, Any]]) -> None:
    fake_ollama.set_responder(reviews({"withdraw": noise}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        await editor.execute("lspAssist.reviewFile", uri)
        await editor.round_trip()
    assert editor.diagnostics(uri) == []


async def test_the_quick_fix_edits_the_quoted_line(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
        actions = await editor.code_actions(uri, diagnostic)
        titles = [a.title for a in actions]
        fix = next(a for a in actions if isinstance(a, types.CodeAction) and a.edit)
        assert fix.kind == types.CodeActionKind.QuickFix
        assert fix.is_preferred
        assert any("Dismiss" in t for t in titles) and any("Explain" in t for t in titles)
        editor.apply(uri, fix.edit)  # type: ignore[arg-type]
        # The fixed code no longer contains the quote: the finding goes, without a model call.
        calls = len(review_calls(fake_ollama))
        await editor.wait_for_diagnostics(uri, lambda d: d == [])
    assert "        if amount > balance:\n" in editor.buffers[uri].text
    assert len(review_calls(fake_ollama)) == calls


async def test_no_quick_fix_when_the_fix_would_not_parse(fake_ollama: FakeOllama) -> None:
    broken = finding(fix_old="amount < balance:", fix_new="amount > balance")  # drops the colon
    fake_ollama.set_responder(reviews({"withdraw": [broken]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
        actions = await editor.code_actions(uri, diagnostic)
    assert not any(isinstance(a, types.CodeAction) and a.edit for a in actions)
    assert any("Dismiss" in a.title for a in actions)


async def test_a_dismissed_finding_stays_dismissed_after_a_restart(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    async with editor_session(fake_ollama.url, env=env) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
        actions = await editor.code_actions(uri, diagnostic)
        dismiss = next(a for a in actions if "Dismiss" in a.title)
        assert isinstance(dismiss, types.CodeAction) and dismiss.command is not None
        assert await editor.execute(dismiss.command.command, *dismiss.command.arguments or [])
        await editor.wait_for_diagnostics(uri, lambda d: d == [])
    # A new server, a new session; the model still says the same.
    async with editor_session(fake_ollama.url, env=env) as editor:
        uri = editor.open("bank.py", BANK)
        await editor.execute("lspAssist.reviewFile", uri)
        await editor.round_trip()
        assert editor.diagnostics(uri) == []


async def test_explain_asks_the_model_for_a_short_explanation(fake_ollama: FakeOllama) -> None:
    review = reviews({"withdraw": [finding()]})

    def respond(body: dict[str, Any]) -> Reply:
        if "messages" in body and not body.get("format"):
            return Reply(text="Withdrawing less than the balance is refused, but it is fine.")
        return review(body)

    fake_ollama.set_responder(respond)
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
        actions = await editor.code_actions(uri, diagnostic)
        explain = next(a for a in actions if "Explain" in a.title)
        assert isinstance(explain, types.CodeAction) and explain.command is not None
        text = await editor.execute(explain.command.command, *explain.command.arguments or [])
        messages = await editor.wait_for_message()
    assert text.startswith("Withdrawing less")
    assert any(m.startswith("Withdrawing less") for m in messages)


async def test_findings_follow_edits_above_below_and_inside(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        await saved_with_findings(editor, uri)
        calls = len(review_calls(fake_ollama))

        # Above: two lines inserted at the top of the file.
        editor.type(uri, 0, "import os\nimport sys\n")
        moved = await editor.wait_for_diagnostics(
            uri, lambda d: len(d) == 1 and d[0].range.start.line == 14
        )
        assert editor.quoted(uri, moved[0]) == "if amount < balance:"

        # Below: a new method at the end.
        editor.type(uri, editor.end_of(uri), "\n    def close(self):\n        pass\n")
        await editor.round_trip()
        (still,) = editor.diagnostics(uri)
        assert editor.quoted(uri, still) == "if amount < balance:"

        # Inside the function but not on the quoted code.
        offset = editor.offset_of(uri, "        balance = self.balances[account]")
        editor.type(uri, offset, "        # look the balance up\n")
        shifted = await editor.wait_for_diagnostics(
            uri, lambda d: len(d) == 1 and d[0].range.start.line == 15
        )
        assert editor.quoted(uri, shifted[0]) == "if amount < balance:"

        # Inside the quoted code: the finding is about code that is gone.
        offset = editor.offset_of(uri, "< balance:")
        editor.replace(uri, offset, offset + 1, "<=")
        await editor.wait_for_diagnostics(uri, lambda d: d == [])
    assert len(review_calls(fake_ollama)) == calls  # all without a model call


async def test_saving_unchanged_code_again_costs_no_model_call(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        await saved_with_findings(editor, uri)
        calls = len(review_calls(fake_ollama))
        editor.save(uri)
        result = await editor.execute("lspAssist.reviewFile", uri)  # even a full review
        assert result["calls"] == 0
    assert len(review_calls(fake_ollama)) == calls
    # And after a restart, the same code is answered from the cache on disk.
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await editor.wait_for_diagnostics(uri)
        assert editor.quoted(uri, diagnostic) == "if amount < balance:"
    assert len(review_calls(fake_ollama)) == calls


async def test_comment_or_whitespace_changes_trigger_no_review(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        await saved_with_findings(editor, uri)
        calls = len(review_calls(fake_ollama))
        offset = editor.offset_of(uri, "        self.balances[account] = balance - amount")
        editor.type(uri, offset, "        # the new balance\n")
        offset = editor.offset_of(uri, "amount):\n        self.balances[account] = self")
        editor.type(uri, offset + len("amount"), " ")  # `amount ):` — whitespace only
        editor.save(uri)
        result = await editor.execute("lspAssist.reviewChanges", uri)
        await editor.round_trip()
        assert len(review_calls(fake_ollama)) == calls
        assert result["calls"] == 0
        (diagnostic,) = editor.diagnostics(uri)
        assert editor.quoted(uri, diagnostic) == "if amount < balance:"


async def test_only_the_changed_function_is_reviewed_on_save(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        await saved_with_findings(editor, uri)
        before = len(review_calls(fake_ollama, "deposit"))
        offset = editor.offset_of(uri, "+ amount\n")
        editor.replace(uri, offset, offset + len("+ amount"), "+ abs(amount)")
        editor.save(uri)
        await _wait_calls(fake_ollama, "deposit", before + 1)
        await editor.execute("lspAssist.reviewChanges")  # waits for the queue to drain
    assert len(review_calls(fake_ollama, "withdraw")) == 1
    assert len(review_calls(fake_ollama, "__init__")) == 1


async def _wait_calls(fake: FakeOllama, name: str, count: int) -> None:
    """Until `count` review calls for function `name` have arrived (each wait is bounded)."""
    while len(review_calls(fake, name)) < count:
        arrived = len(fake.chat_requests) + len(fake.generate_requests)
        await fake.wait_for_requests_async(arrived + 1)


async def test_a_function_edited_while_its_review_is_in_flight(fake_ollama: FakeOllama) -> None:
    review = reviews({"withdraw": [finding()]})
    withdraw_calls: list[int] = []

    def respond(body: dict[str, Any]) -> Reply:
        reply = review(body)
        if "def withdraw(" in body.get("messages", [{}])[-1].get("content", ""):
            withdraw_calls.append(1)
            if len(withdraw_calls) == 1:
                # Streams slowly, in flight until the client hangs up. (A long prompt
                # evaluation would do too, but Ollama keeps the slot busy through it.)
                return Reply(text=reply.text, token_delay=1.0)
        return reply

    fake_ollama.set_responder(respond)
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        editor.save(uri)
        await _wait_calls(fake_ollama, "withdraw", 1)
        offset = editor.offset_of(uri, "raise ValueError")
        editor.type(uri, offset, "log(); ")
        # The stale call is stopped (Ollama sees the disconnect) and its answer not placed.
        await fake_ollama.wait_for_disconnects_async(1)
        await editor.round_trip()
        assert editor.diagnostics(uri) == []
        # The next save reviews the function as it is now.
        editor.save(uri)
        (diagnostic,) = await editor.wait_for_diagnostics(uri)
        assert editor.quoted(uri, diagnostic) == "if amount < balance:"
    assert len(withdraw_calls) == 2


async def test_a_completion_takes_precedence_over_a_review(fake_ollama: FakeOllama) -> None:
    review = reviews({"withdraw": [finding()]})
    review_arrivals: list[int] = []

    def respond(body: dict[str, Any]) -> Reply:
        if body.get("format"):
            review_arrivals.append(len(review_arrivals))
            if len(review_arrivals) == 1:
                return Reply(text=review(body).text, token_delay=1.0)  # in flight when we type
            return review(body)
        return Reply(text="return 1")

    fake_ollama.set_responder(respond)
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        editor.save(uri)
        await fake_ollama.wait_for_requests_async(1)
        other = editor.open("notes.py", "def f():\n    ")
        assert await editor.ghost_text(other, editor.end_of(other)) == "return 1"
        # The review call gave way (disconnected), then came back and finished.
        assert fake_ollama.disconnects >= 1
        assert any(r.disconnected and r.body.get("format") for r in fake_ollama.chat_requests)
        diagnostics = await editor.wait_for_diagnostics(uri)
        assert len(diagnostics) == 1
    assert len(review_arrivals) >= 4  # the preempted call was asked again


async def test_review_progress_is_reported(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        await editor.execute("lspAssist.reviewFile", uri)
        await editor.round_trip()
        reports = [
            getattr(value, "message", None)
            for values in editor.client.progress_reports.values()
            for value in values
        ]
    assert "Reviewing bank.py: 1/3 functions" in reports
    assert "Reviewing bank.py: 3/3 functions" in reports
    assert "bank.py: 1 finding" in reports


async def test_pull_diagnostics_for_clients_that_pull(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url, client="vscode-pull") as editor:
        uri = editor.open("bank.py", BANK)
        await editor.execute("lspAssist.reviewFile", uri)
        report = await editor.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
        (diagnostic,) = report.items
        assert editor.quoted(uri, diagnostic) == "if amount < balance:"
        assert editor.client.diagnostic_refresh_count >= 1
        again = await editor.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                previous_result_id=report.result_id,
            )
        )
        assert isinstance(again, types.RelatedUnchangedDocumentDiagnosticReport)
        assert editor.diagnostics(uri) == []  # nothing pushed as well


async def test_a_missing_review_model_is_told_once_with_the_fix(fake_ollama: FakeOllama) -> None:
    async with editor_session(
        fake_ollama.url, settings={"review": {"model": "qwen2.5-coder:32b"}}
    ) as editor:
        uri = editor.open("bank.py", BANK)
        editor.save(uri)
        messages = await editor.wait_for_message()
        editor.save(uri)
        await editor.execute("lspAssist.reviewFile", uri)
        await editor.round_trip()
    assert len(editor.messages) == 1
    assert "ollama pull qwen2.5-coder:32b" in messages[0]


async def test_idle_review_without_saving(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url, settings={"review": {"idleMs": 50}}) as editor:
        uri = editor.open("bank.py", BANK)
        offset = editor.offset_of(uri, "raise ValueError")
        editor.type(uri, offset, "x = 1; ")  # then the user pauses
        (diagnostic,) = await editor.wait_for_diagnostics(uri)
    assert editor.quoted(uri, diagnostic) == "if amount < balance:"


async def test_review_changes_reviews_what_differs_from_git_head(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    source = tmp_path / "bank.py"
    source.write_text(BANK)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "bank.py"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "bank"], cwd=tmp_path, check=True)
    changed = BANK.replace("+ amount\n", "+ abs(amount)\n")
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url, root_uri=tmp_path.as_uri()) as editor:
        uri = editor.open_uri(source.as_uri(), changed)
        result = await editor.execute("lspAssist.reviewChanges", uri)
    assert result["units"] == 1
    assert [len(review_calls(fake_ollama, n)) for n in ("__init__", "deposit", "withdraw")] == [
        0,
        1,
        0,
    ]


async def test_ollama_down_is_told_once_for_reviews_and_completions() -> None:
    async with editor_session(
        unused_url(), settings={"completion": {"backend": "ollama"}}
    ) as editor:
        uri = editor.open("bank.py", BANK)
        editor.save(uri)
        (message,) = await editor.wait_for_message()
        await editor.inline(uri, editor.end_of(uri))
        await editor.execute("lspAssist.reviewFile", uri)
        await editor.round_trip()
    assert "not reachable" in message
    assert editor.messages == [message]


async def test_a_client_that_pulls_without_refresh_gets_findings_pushed_once(
    fake_ollama: FakeOllama,
) -> None:
    # Neovim 0.11 declares pull diagnostics but cannot be told to pull again.
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url, client="neovim") as editor:
        uri = editor.open("bank.py", BANK)
        (pushed,) = await saved_with_findings(editor, uri)
        report = await editor.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
    assert editor.quoted(uri, pushed) == "if amount < balance:"
    assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
    assert list(report.items) == []


def _point(line: int, character: int) -> types.Diagnostic:
    position = types.Position(line=line, character=character)
    return types.Diagnostic(range=types.Range(start=position, end=position), message="")


async def test_code_actions_are_offered_anywhere_on_the_finding_line(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("bank.py", BANK)
        (diagnostic,) = await saved_with_findings(editor, uri)
        here = await editor.code_actions(uri, _point(diagnostic.range.start.line, 0))
        there = await editor.code_actions(uri, _point(0, 0))
    assert any(isinstance(a, types.CodeAction) and a.edit for a in here)
    assert there == []


async def test_a_quick_fix_in_a_big_file(fake_ollama: FakeOllama) -> None:
    # ~0.9 MB: units found in the worker, the fix checked on its function only. (A run
    # reviews the first 50 functions: the bank's come first.)
    filler = "".join(f"def filler{i}(x):\n    return x * {i}\n\n\n" for i in range(21_000))
    text = BANK + "\n\n" + filler
    assert 800_000 < len(text) < 1_000_000
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("big.py", text)
        await editor.execute("lspAssist.reviewFile", uri)
        (diagnostic,) = await editor.wait_for_diagnostics(uri)
        actions = await editor.code_actions(uri, diagnostic)
        fix = next(a for a in actions if isinstance(a, types.CodeAction) and a.edit)
        editor.apply(uri, fix.edit)  # type: ignore[arg-type]
        await editor.wait_for_diagnostics(uri, lambda d: d == [])
    assert editor.buffers[uri].text == text.replace("amount < balance", "amount > balance")


async def test_a_file_too_big_to_analyse_is_not_reviewed(fake_ollama: FakeOllama) -> None:
    text = BANK + "# generated\n" * 90_000  # over a million characters
    fake_ollama.set_responder(reviews({"withdraw": [finding()]}))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("generated.py", text)
        result = await editor.execute("lspAssist.reviewFile", uri)
    assert result["units"] == 0
    assert review_calls(fake_ollama) == []
