"""Completions from llama.cpp, an OpenAI-compatible server or the embedded engine: our raw FIM
prompt (the same layout as for Ollama, so the engine's prompt cache sees typing as appending),
streamed, and closed when superseded."""

from __future__ import annotations

import logging

from lsp_assist.backends.base import CompletionJob, PreparedGeneration
from lsp_assist.backends.embedded import EmbeddedEngine
from lsp_assist.backends.llamacpp import LlamaCppClient
from lsp_assist.backends.openai_compat import OpenAIClient
from lsp_assist.completion.request import ModelPlan, build_completion_request, looks_like_instruct
from lsp_assist.config import CompletionSettings, Endpoint, is_local_url
from lsp_assist.errors import ModelWithoutFim
from lsp_assist.prompts.templates import TEMPLATES, FimTemplate, detect_template

log = logging.getLogger(__name__)

EngineClient = LlamaCppClient | OpenAIClient | EmbeddedEngine


class EngineCompletion:
    def __init__(self, endpoint: Endpoint, client: EngineClient) -> None:
        self.name = endpoint.name
        self.endpoint = endpoint
        self.client = client
        self._plans: dict[tuple[str, int], tuple[str, ModelPlan]] = {}

    @property
    def local(self) -> bool:
        """Whether the model runs on this machine (prefetching is then free to use it)."""
        return self.endpoint.kind == "embedded" or is_local_url(self.endpoint.resolved_url)

    @property
    def loading(self) -> bool:
        return isinstance(self.client, EmbeddedEngine) and self.client.loading

    async def model_plan(self, settings: CompletionSettings) -> tuple[str, ModelPlan]:
        """The served model's name and how to prompt it (asked once per model)."""
        wanted = self.endpoint.completionModel or settings.model
        key = (wanted, settings.numCtx)
        if (known := self._plans.get(key)) is not None:
            return known
        client = self.client
        template: FimTemplate | None
        if isinstance(client, OpenAIClient):
            served = await client.served_model(
                wanted, f"lspAssist.endpoints.{self.name}.completionModel"
            )
            model, context = served.id, served.context_length
            template = detect_template(model)
        else:
            facts = await client.facts()
            model, context, template = facts.model, facts.slot_ctx, facts.fim
        if self.endpoint.fim:
            template = TEMPLATES[self.endpoint.fim]
        if template is None or looks_like_instruct(model):
            raise ModelWithoutFim(model, endpoint=self.name)
        plan = ModelPlan(
            template=template, num_ctx=min(settings.numCtx, context or settings.numCtx)
        )
        self._plans[key] = (model, plan)
        log.info("%s: %s with the %s FIM template, %d tokens of context",
                 self.name, model, template.family, plan.num_ctx)  # fmt: skip
        return model, plan

    async def prepare(self, job: CompletionJob) -> PreparedGeneration | None:
        if isinstance(self.client, EmbeddedEngine):
            await self.client.ready(job.settings.firstTokenMs)
        model, plan = await self.model_plan(job.settings)
        request = build_completion_request(
            job.snapshot,
            job.offset,
            job.settings,
            plan,
            context_files=job.context_files,
            repo_name=job.repo_name,
        )
        if request is None:
            return None
        return PreparedGeneration(
            plan=request.generation_plan(job.snapshot),
            open_stream=request.stream_factory(self.client, model),
            source="model",
            label=f"lsp-assist · {model} ({self.name})",
        )

    async def preload(self, settings: CompletionSettings) -> None:
        """Starts the embedded engine; asks a server what it serves (a failure is left for
        the first completion to report)."""
        try:
            if isinstance(self.client, EmbeddedEngine):
                await self.client.start()
            await self.model_plan(settings)
        except Exception as exc:  # reported, with its fix, by the first completion
            log.info("preparing %s failed: %s", self.name, exc)

    async def probe(self) -> bool:
        return await self.client.answers()

    async def close(self) -> None:
        await self.client.close()
