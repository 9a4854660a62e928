"""The review service as the session drives it: documents that change, runs, dismissals and
explanations, against the fake Ollama server through a real `OllamaBackend`, with a real
worker thread. Nothing of ours is faked."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.config import ReviewSettings
from lsp_assist.context.tags import Symbol
from lsp_assist.documents import MAX_ANALYSED_CHARS, Document
from lsp_assist.errors import FaultNotifier
from lsp_assist.review.service import ReviewService
from lsp_assist.workers import BackgroundWorker
from tests.fakes.fake_ollama import FakeOllama, Reply

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
QUOTE = "if amount < balance:"
FINDING = {
    "line": 3,
    "evidence": QUOTE,
    "trigger": "withdraw(a, 5) with a balance of 10 raises",
    "is_problem": True,
    "category": "logic",
    "confidence": "high",
    "message": "The comparison is inverted",
    "fix_old": "amount < balance",
    "fix_new": "amount > balance",
}
EXPLANATION = "Withdrawing less than the balance is refused."


def respond(body: dict[str, Any]) -> Reply:
    """withdraw has the finding, the other functions none; an explain call gets prose."""
    if "messages" not in body:
        return Reply(text="pass")
    if not body.get("format"):
        return Reply(text=EXPLANATION)
    prompt = body["messages"][-1]["content"]
    findings = [FINDING] if "def withdraw(" in prompt else []
    return Reply(text=json.dumps({"findings": findings}))


def review_calls(fake: FakeOllama, function: str | None = None) -> list[Any]:
    calls = [r for r in fake.chat_requests if r.body.get("format")]
    if function is None:
        return calls
    return [r for r in calls if f"def {function}(" in r.body["messages"][-1]["content"]]


class Session:
    """Documents and a review service, wired as `lsp_assist.session` wires them."""

    def __init__(self, fake: FakeOllama, state_dir: Path, worker: BackgroundWorker) -> None:
        self.backend = OllamaBackend(fake.url)
        self.worker = worker
        self.documents: dict[str, Document] = {}
        self.settings = ReviewSettings()
        self.published: list[str] = []
        self.messages: list[str] = []
        self.blockers: list[BlockedWorker] = []
        self.activity = CompletionActivity()
        self.workspace: dict[str, list[Symbol]] = {}
        self.review = ReviewService(
            backend=lambda: self.backend,
            settings=lambda: self.settings,
            document=self.documents.get,
            activity=self.activity,
            notifier=FaultNotifier(lambda severity, text: self.messages.append(text)),
            on_findings=self.published.append,
            state_dir=state_dir,
            worker=worker,
            callees=lambda name: self.workspace.get(name, []),
        )

    def open(self, text: str, name: str = "bank.py", language_id: str = "python") -> str:
        uri = f"file:///project/{name}"
        self.documents[uri] = Document(uri, text, language_id=language_id)
        self.review.document_opened(uri)
        return uri

    def edit(self, uri: str, begin: int, finish: int, new_text: str) -> None:
        self.documents[uri].replace(begin, finish, new_text)
        self.review.document_edited(uri, begin, finish, len(new_text))

    def insert_before(self, uri: str, anchor: str, new_text: str) -> None:
        offset = self.documents[uri].text.index(anchor)
        self.edit(uri, offset, offset, new_text)

    def replace_all(self, uri: str, text: str) -> None:
        self.documents[uri].apply_change(text)
        self.review.document_replaced(uri)

    def quoted(self, uri: str) -> list[str]:
        text = self.documents[uri].text
        return [text[f.start : f.end] for f in self.review.findings(uri)]

    async def close(self) -> None:
        for blocker in self.blockers:
            blocker.release()
        await self.review.shutdown()
        await self.backend.close()


@pytest.fixture
async def session(fake_ollama: FakeOllama, tmp_path: Path) -> AsyncIterator[Session]:
    fake_ollama.set_responder(respond)
    worker = BackgroundWorker()
    session = Session(fake_ollama, tmp_path / "state", worker)
    yield session
    await session.close()
    worker.close()


class BlockedWorker:
    """Holds the worker thread until released: whatever is queued behind waits."""

    def __init__(self, worker: BackgroundWorker) -> None:
        self._release = threading.Event()
        worker.submit(self._release.wait)

    def release(self) -> None:
        self._release.set()


def blocked(session: Session) -> BlockedWorker:
    """Blocks the session's worker; released at the latest when the session closes."""
    blocker = BlockedWorker(session.worker)
    session.blockers.append(blocker)
    return blocker


async def loop_turns(n: int = 200) -> None:
    """Lets everything that can run on the loop alone run (no I/O, no worker)."""
    for _ in range(n):
        await asyncio.sleep(0)


# -- a run --------------------------------------------------------------------------------------


async def test_a_review_places_the_finding_on_the_code_it_quotes(
    session: Session, fake_ollama: FakeOllama
) -> None:
    uri = session.open(BANK)
    stats = await session.review.request(uri, "changed")
    assert session.quoted(uri) == [QUOTE]
    assert uri in session.published
    assert (stats.units, stats.calls) == (3, 3)
    (finding,) = session.review.findings(uri)
    assert session.review.finding(uri, finding.id) == finding
    assert len(review_calls(fake_ollama)) == 3


async def test_after_an_edit_only_the_edited_function_is_asked_again(
    session: Session, fake_ollama: FakeOllama
) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    session.insert_before(uri, "+ amount\n", "+ 0 ")
    stats = await session.review.request(uri, "changed")
    assert stats.units == 1
    assert [len(review_calls(fake_ollama, f)) for f in ("__init__", "deposit", "withdraw")] == [
        1,
        2,
        1,
    ]
    assert session.quoted(uri) == [QUOTE]


async def test_units_are_found_in_the_worker_not_on_the_loop(session: Session) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")  # the answers are now in the cache
    session.insert_before(uri, "class Bank", "# a comment\n")
    await session.documents[uri].parsed(session.worker)  # only the unit scan is left to do
    blocker = blocked(session)
    run = session.review.request(uri, "cached")
    await loop_turns()
    assert not run.done()  # the unit scan waits for the worker
    blocker.release()
    stats = await run
    assert stats.cached == 3
    assert session.quoted(uri) == [QUOTE]


async def test_a_document_too_big_to_analyse_is_not_reviewed(
    session: Session, fake_ollama: FakeOllama
) -> None:
    padding = "# generated\n" * (MAX_ANALYSED_CHARS // 12 + 1)
    uri = session.open(BANK + padding)
    stats = await session.review.request(uri, "all")
    assert stats.too_big
    assert stats.units == 0
    assert review_calls(fake_ollama) == []


async def test_plain_text_is_not_reviewed(session: Session, fake_ollama: FakeOllama) -> None:
    uri = session.open("def withdraw(a):\n    return a\n", "notes.txt", "plaintext")
    stats = await session.review.request(uri, "all")
    assert stats.units == 0
    assert review_calls(fake_ollama) == []


def slow_for_the_first_withdraw_review() -> Any:
    """The first review of withdraw streams slowly: in flight until the client hangs up."""
    seen: list[int] = []

    def slow(body: dict[str, Any]) -> Reply:
        reply = respond(body)
        if body.get("format") and "def withdraw(" in body["messages"][-1]["content"]:
            seen.append(1)
            if len(seen) == 1:
                return Reply(text=reply.text, token_delay=1.0)
        return reply

    return slow


async def test_an_answer_about_a_function_edited_while_in_flight_is_dropped(
    session: Session, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(slow_for_the_first_withdraw_review())
    uri = session.open(BANK)
    run = session.review.request(uri, "changed")
    while not review_calls(fake_ollama, "withdraw"):
        await fake_ollama.wait_for_requests_async(len(fake_ollama.chat_requests) + 1)
    session.insert_before(uri, "raise ValueError", "log(); ")
    stats = await run
    assert stats.stale == 1
    assert session.review.findings(uri) == []
    await fake_ollama.wait_for_disconnects_async(1)  # the call was stopped, not waited for
    stats = await session.review.request(uri, "changed")  # the function as it is now
    assert stats.units == 1 and session.quoted(uri) == [QUOTE]


async def test_a_review_call_gives_way_to_a_completion_and_is_asked_again(
    session: Session, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(slow_for_the_first_withdraw_review())
    uri = session.open(BANK)
    run = session.review.request(uri, "changed")
    while not review_calls(fake_ollama, "withdraw"):
        await fake_ollama.wait_for_requests_async(len(fake_ollama.chat_requests) + 1)
    completion: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    session.activity.generation_started(completion)
    completion.set_result(None)
    stats = await run
    assert len(review_calls(fake_ollama, "withdraw")) == 2
    await fake_ollama.wait_for_disconnects_async(1)
    assert stats.stale == 0 and session.quoted(uri) == [QUOTE]


# -- following the text -------------------------------------------------------------------------


async def test_an_edit_above_moves_the_finding(session: Session) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    session.published.clear()
    session.insert_before(uri, "class Bank", "import os\n")
    assert session.quoted(uri) == [QUOTE]
    assert session.published == [uri]


async def test_a_whole_new_text_moves_the_finding_with_its_code(session: Session) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    session.published.clear()
    session.replace_all(uri, "import os\nimport sys\n" + BANK)
    assert session.quoted(uri) == [QUOTE]
    assert session.published == [uri]


async def test_a_whole_new_text_without_the_quoted_code_drops_the_finding(
    session: Session,
) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    session.replace_all(uri, BANK.replace(QUOTE, "if amount > balance:"))
    assert session.review.findings(uri) == []


async def test_a_whole_new_text_formatted_elsewhere_keeps_the_finding(session: Session) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    formatted = BANK.replace("from decimal import Decimal", "import decimal").replace(
        "raise ValueError", "raise  ValueError"
    )
    session.replace_all(uri, formatted)
    assert session.quoted(uri) == [QUOTE]


async def test_the_same_text_again_changes_nothing(session: Session) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    session.published.clear()
    session.replace_all(uri, BANK)
    assert session.quoted(uri) == [QUOTE]
    assert session.published == []


# -- dismiss and explain ------------------------------------------------------------------------


async def test_a_dismissal_is_written_by_the_worker(session: Session, tmp_path: Path) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    (finding,) = session.review.findings(uri)
    blocker = blocked(session)
    assert session.review.dismiss(uri, finding.id)
    assert session.review.findings(uri) == []
    path = tmp_path / "state" / "dismissed.json"
    assert not path.exists()  # queued behind the blocked worker, not written on the loop
    blocker.release()
    await session.worker.run(lambda: None)
    assert len(json.loads(path.read_text())) == 1


async def test_a_dismissed_finding_stays_hidden_after_a_restart(
    session: Session, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    (finding,) = session.review.findings(uri)
    session.review.dismiss(uri, finding.id)
    await session.close()
    again = Session(fake_ollama, tmp_path / "state", session.worker)
    uri = again.open(BANK)
    await again.review.request(uri, "all")
    assert again.review.findings(uri) == []
    await again.close()


async def test_a_finding_dismissed_after_an_edit_is_kept_for_the_edited_code(
    session: Session, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    (finding,) = session.review.findings(uri)
    session.insert_before(uri, "        balance =", "        audit()\n")  # units not found yet
    session.review.dismiss(uri, finding.id)
    edited = session.documents[uri].text
    await session.close()  # waits for the dismissal to be recorded and written
    assert len(json.loads((tmp_path / "state" / "dismissed.json").read_text())) == 1
    again = Session(fake_ollama, tmp_path / "state", session.worker)
    uri = again.open(edited)
    await again.review.request(uri, "all")
    assert len(review_calls(fake_ollama, "withdraw")) == 2  # the edited code was asked about
    assert again.review.findings(uri) == []
    await again.close()


async def test_dismissing_an_unknown_finding_does_nothing(session: Session) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    assert not session.review.dismiss(uri, "no-such-id")
    assert not session.review.dismiss("file:///project/other.py", "no-such-id")
    assert session.quoted(uri) == [QUOTE]


async def test_explain_sends_the_function_as_it_is_now(
    session: Session, fake_ollama: FakeOllama
) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    session.insert_before(uri, "        balance =", "        audit()\n")
    (finding,) = session.review.findings(uri)
    assert await session.review.explain(uri, finding.id) == EXPLANATION
    (call,) = [r for r in fake_ollama.chat_requests if not r.body.get("format")]
    question = call.body["messages"][-1]["content"]
    assert "        audit()\n        balance = self.balances[account]" in question
    assert "def deposit(" not in question


# -- state on disk ------------------------------------------------------------------------------


async def test_answers_are_on_disk_after_shutdown(
    session: Session, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    await session.close()  # well before the delayed cache write would have happened
    stored = json.loads((tmp_path / "state" / "review-cache.json").read_text())
    assert len(stored) == 3
    again = Session(fake_ollama, tmp_path / "state", session.worker)
    uri = again.open(BANK)
    stats = await again.review.request(uri, "all")
    assert (stats.calls, stats.cached) == (0, 3)
    assert again.quoted(uri) == [QUOTE]
    await again.close()


async def test_the_answer_cache_is_not_written_on_the_loop(
    session: Session, tmp_path: Path
) -> None:
    uri = session.open(BANK)
    await session.review.request(uri, "changed")
    blocker = blocked(session)
    flushed = asyncio.ensure_future(session.review.shutdown())
    await loop_turns()
    assert not flushed.done()
    assert not (tmp_path / "state" / "review-cache.json").exists()
    blocker.release()
    await flushed
    assert len(json.loads((tmp_path / "state" / "review-cache.json").read_text())) == 3


async def test_a_reviewed_function_carries_the_signatures_of_what_it_calls(
    session: Session, fake_ollama: FakeOllama
) -> None:
    session.workspace["audit"] = [
        Symbol(
            name="audit",
            kind="function",
            container="",
            signature="def audit(account: str, amount: Decimal) -> None:",
            doc="Raises PermissionError for frozen accounts.",
            path="bank/audit.py",
            line=3,
            end_line=9,
        )
    ]
    text = BANK.replace(
        "        balance = self.balances[account]",
        "        audit(account, amount)\n        balance = self.balances[account]",
    )
    uri = session.open(text)
    await session.review.request(uri, "changed")
    (withdraw,) = review_calls(fake_ollama, "withdraw")
    prompt = withdraw.body["messages"][-1]["content"]
    assert (
        "bank/audit.py: def audit(account: str, amount: Decimal) -> None:"
        "  # Raises PermissionError for frozen accounts." in prompt
    )
    (deposit,) = review_calls(fake_ollama, "deposit")
    assert "audit" not in deposit.body["messages"][-1]["content"]  # it does not call it
