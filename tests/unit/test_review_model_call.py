"""The review call asks the client the settings name when it starts, not when it queued."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from lsp_assist.backends.answers import ChatAnswer
from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.review.model_call import ModelCalls
from lsp_assist.review.state import InFlight


class Client:
    def __init__(self, host: str, closed: bool = False) -> None:
        self.host = host
        self.closed = closed
        self.asked = 0

    async def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        options: Mapping[str, Any],
        format: Mapping[str, Any] | None = None,
    ) -> ChatAnswer:
        self.asked += 1
        if self.closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return ChatAnswer(content="{}", done=True, done_reason="stop")


async def test_a_call_that_waited_out_a_settings_change_uses_the_new_client() -> None:
    activity = CompletionActivity()
    old, new = Client("http://old", closed=True), Client("http://new")
    current = [old]
    calls = ModelCalls(lambda: current[0], activity)
    typing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    activity.generation_started(typing)  # completions are busy: the review waits
    review = asyncio.ensure_future(
        calls.call(InFlight(0, 10), "m", [{"role": "user", "content": "x"}], None, {})
    )
    await asyncio.sleep(0)  # it has taken its place in the queue
    current[0] = new  # the settings changed meanwhile; the old client was retired and closed
    typing.set_result(None)
    answer = await asyncio.wait_for(review, 10)
    assert answer.done and (old.asked, new.asked) == (0, 1)
