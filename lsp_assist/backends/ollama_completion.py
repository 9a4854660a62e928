"""Completions from Ollama: raw FIM prompts from our templates (or Ollama's own FIM template
through `suffix`), streamed by `/api/generate`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from lsp_assist.backends.base import CompletionJob, PreparedGeneration
from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.completion.request import ModelPlan, build_completion_request, resolve_model_plan
from lsp_assist.config import CompletionSettings, is_local_url
from lsp_assist.errors import BackendError, StillLoading

log = logging.getLogger(__name__)


class OllamaCompletion:
    def __init__(self, client: OllamaBackend, *, name: str = "ollama", model: str = "") -> None:
        self.name = name
        self.client = client
        self._model = model
        """The endpoint's own name for the completion model ("": `completion.model`)."""
        self._plans: dict[tuple[str, int], ModelPlan] = {}
        self._loading: asyncio.Task[None] | None = None

    async def model_plan(self, settings: CompletionSettings) -> ModelPlan:
        """How to prompt the model (from `/api/show`, asked once per model)."""
        key = (settings.model, settings.numCtx)
        if (plan := self._plans.get(key)) is not None:
            return plan
        info = await self.client.model_info(settings.model)
        plan = resolve_model_plan(settings.model, info, settings.numCtx)
        self._plans[key] = plan
        log.info(
            "model %s: %s, num_ctx=%d",
            settings.model,
            f"raw FIM template {plan.template.family}"
            if plan.template
            else "Ollama's FIM template",
            plan.num_ctx,
        )
        return plan

    @property
    def loading(self) -> bool:
        return self._loading is not None and not self._loading.done()

    @property
    def local(self) -> bool:
        """Whether the model runs on this machine (prefetching is then free to use it)."""
        return is_local_url(self.client.host)

    def _own(self, settings: CompletionSettings) -> CompletionSettings:
        return dataclasses.replace(settings, model=self._model) if self._model else settings

    async def prepare(self, job: CompletionJob) -> PreparedGeneration | None:
        settings = self._own(job.settings)
        if (loading := self._loading) is not None and not loading.done():
            # Ollama would queue the request behind the load anyway: wait for it here (one
            # connection, one slot), up to the first-token deadline.
            deadline_s = settings.firstTokenMs / 1000 if settings.firstTokenMs > 0 else None
            done, _ = await asyncio.wait({loading}, timeout=deadline_s)
            if not done:
                raise StillLoading(settings.model)
        plan = await self.model_plan(settings)
        request = build_completion_request(
            job.snapshot,
            job.offset,
            settings,
            plan,
            context_files=job.context_files,
            repo_name=job.repo_name,
        )
        if request is None:
            return None
        return PreparedGeneration(
            plan=request.generation_plan(job.snapshot),
            open_stream=request.stream_factory(self.client, settings.model),
            source="model",
            label=f"lsp-assist · {settings.model}"
            + (f" ({self.name})" if self.name != "ollama" else ""),
        )

    async def preload(self, settings: CompletionSettings) -> None:
        """Loads the model; completions asked meanwhile wait for it (see `prepare`)."""
        if self._loading is not None:
            self._loading.cancel()
        self._loading = asyncio.get_running_loop().create_task(self._load(self._own(settings)))
        await asyncio.shield(self._loading)

    async def _load(self, settings: CompletionSettings) -> None:
        try:
            plan = await self.model_plan(settings)
            await self.client.load_model(settings.model, num_ctx=plan.num_ctx)
            log.info("model %s loaded", settings.model)
        except BackendError as exc:  # the first completion reports it, with the fix
            log.info("loading %s failed: %s", settings.model, exc)

    async def probe(self) -> bool:
        return await self.client.answers()

    async def close(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
        await self.client.close()
