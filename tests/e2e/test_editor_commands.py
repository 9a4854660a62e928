"""Commands an editor can run: `lspAssist.doctor` and `lspAssist.pullModels` (with $/progress)."""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types

from tests.e2e.editor import Editor, editor_session
from tests.fakes.fake_ollama import FakeOllama, unused_url


def plain(value: Any) -> Any:
    """pygls hands untyped JSON over as namedtuples: back to dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def run_command(editor: Editor, command: str, *arguments: Any) -> Any:
    params = types.ExecuteCommandParams(command=command, arguments=list(arguments) or None)
    result = await asyncio.wait_for(editor.client.workspace_execute_command_async(params), 30)
    return plain(result)


async def test_doctor_in_the_editor_reports_a_missing_model_with_its_fix(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.remove_model("qwen2.5-coder:7b-instruct")
    async with editor_session(fake_ollama.url) as editor:
        report = await run_command(editor, "lspAssist.doctor")
        messages = await editor.wait_for_message(1)
    assert report["ok"] is False
    assert report["host"]["reachable"] is True
    missing = [m for m in report["models"] if m["pulled"] is False]
    assert [m["name"] for m in missing] == ["qwen2.5-coder:7b-instruct"]
    assert "ollama pull qwen2.5-coder:7b-instruct" in messages[0]


async def test_doctor_in_the_editor_with_ollama_down_answers_with_the_fix() -> None:
    async with editor_session(unused_url()) as editor:
        report = await run_command(editor, "lspAssist.doctor")
        messages = await editor.wait_for_message(1)
    assert report["ok"] is False and report["host"]["reachable"] is False
    assert "ollama serve" in messages[0]


async def test_pulling_missing_models_from_the_editor_reports_progress(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.remove_model("qwen2.5-coder:7b-instruct")
    async with editor_session(fake_ollama.url) as editor:
        results = await run_command(editor, "lspAssist.pullModels")
        after = await run_command(editor, "lspAssist.doctor")
    assert results == [{"model": "qwen2.5-coder:7b-instruct", "ok": True, "error": ""}]
    assert after["ok"] is True
    (reports,) = editor.client.progress_reports.values()
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert any(
        isinstance(r, types.WorkDoneProgressReport)
        and "qwen2.5-coder:7b-instruct" in (r.message or "")
        for r in reports
    )
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    assert "pulled qwen2.5-coder:7b-instruct" in (reports[-1].message or "")
