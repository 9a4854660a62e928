"""Endpoints in the settings, and the route they make per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lsp_assist.backends.endpoints import EndpointClients
from lsp_assist.backends.offline import OfflineCompletion
from lsp_assist.backends.ollama import ModelInfo
from lsp_assist.backends.routing import EndpointRouter
from lsp_assist.completion.request import resolve_model_plan
from lsp_assist.config import Endpoint, Settings, parse_settings
from lsp_assist.errors import BackendUnavailable, FaultNotifier, ModelWithoutFim
from lsp_assist.offline.engine import OfflineEngine

ENDPOINTS = {
    "gpu": {"kind": "openai", "url": "http://gpu-box:8000/v1", "apiKeyEnv": "VLLM_API_KEY"},
    "local": {"kind": "ollama", "url": "http://127.0.0.1:11434"},
    "lcpp": {"kind": "llamacpp", "url": "http://127.0.0.1:8012"},
    "here": {"kind": "embedded", "modelPath": "~/models/q.gguf"},
}


def test_the_issues_example_parses_without_a_problem() -> None:
    settings, problems = parse_settings(
        {
            "endpoints": ENDPOINTS,
            "completion": {"endpoint": ["lcpp", "local"], "model": "qwen2.5-coder:1.5b-base"},
            "review": {"endpoint": "gpu", "model": "Qwen/Qwen2.5-Coder-7B-Instruct"},
        }
    )
    assert problems == []
    assert [e.name for e in settings.endpoints] == ["gpu", "local", "lcpp", "here"]
    assert [e.name for e in settings.completion_endpoints] == ["lcpp", "local"]
    assert [e.name for e in settings.review_endpoints] == ["gpu"]
    assert settings.endpoints[0] == Endpoint(
        name="gpu", kind="openai", url="http://gpu-box:8000/v1", apiKeyEnv="VLLM_API_KEY"
    )


def test_without_endpoints_ollama_host_is_the_one_endpoint() -> None:
    settings, _ = parse_settings({"ollama": {"host": "http://ollama.lan:11434"}})
    [endpoint] = settings.completion_endpoints
    assert (endpoint.name, endpoint.kind, endpoint.url) == (
        "ollama",
        "ollama",
        "http://ollama.lan:11434",
    )
    assert settings.review_endpoints == settings.completion_endpoints


def test_an_ollama_endpoint_without_url_uses_ollama_host() -> None:
    settings, _ = parse_settings(
        {"ollama": {"host": "http://o:1"}, "endpoints": {"local": {"kind": "ollama"}}}
    )
    assert settings.endpoints[0].url == "http://o:1"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"completion": {"endpoint": ["nope"]}}, "completion.endpoint names 'nope'"),
        ({"endpoints": {"x": {"kind": "triton"}}}, "endpoints.x.kind must be one of 'ollama', "),
        ({"endpoints": {"x": {"kind": "openai", "url": "gpu-box:8000"}}}, "must be an http(s) URL"),
        (
            {"endpoints": {"x": {"kind": "openai", "apiKeyEnv": "sk-abc-123"}}},
            "must be the name of an environment variable, not the key itself",
        ),
        ({"endpoints": ["gpu"]}, "endpoints must be an object"),
        ({"endpoints": {"x": "http://h"}}, "endpoints.x must be an object"),
    ],
)
def test_bad_endpoint_settings_are_told_and_skipped(raw: dict[str, object], problem: str) -> None:
    _, problems = parse_settings(raw)
    assert any(problem in p for p in problems), problems


@pytest.fixture
async def router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EndpointRouter]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = [Settings()]
    clients = EndpointClients(lambda: settings[-1].ollama)
    shown: list[str] = []
    made = EndpointRouter(
        lambda: settings[-1],
        clients,
        OfflineCompletion(OfflineEngine()),
        FaultNotifier(lambda severity, message: shown.append(message)),
        lambda severity, message: shown.append(message),
    )
    made.settings = settings  # type: ignore[attr-defined]
    yield made
    await made.close()
    await clients.close()


def use(router: EndpointRouter, raw: dict[str, object]) -> None:
    router.settings.append(parse_settings(raw)[0])  # type: ignore[attr-defined]


def names(router: EndpointRouter) -> list[str]:
    return [backend.name for backend in router.completion_route()]


async def test_the_route_is_the_endpoints_in_order_then_the_offline_engine(
    router: EndpointRouter,
) -> None:
    use(router, {"endpoints": ENDPOINTS, "completion": {"endpoint": ["lcpp", "local"]}})
    assert names(router) == ["lcpp", "local", "offline"]
    use(router, {"endpoints": ENDPOINTS, "completion": {"endpoint": "lcpp", "backend": "model"}})
    assert names(router) == ["lcpp"]
    use(router, {"endpoints": {**ENDPOINTS, "ngram": {"kind": "offline"}},
                 "completion": {"endpoint": ["ngram", "lcpp"], "backend": "model"}})  # fmt: skip
    assert names(router) == ["offline", "lcpp"]


async def test_a_pulled_model_joins_the_route_before_the_offline_engine(
    router: EndpointRouter, tmp_path: Path
) -> None:
    assert names(router) == ["ollama", "offline"]
    models = tmp_path / "cache" / "lsp-assist" / "models"
    models.mkdir(parents=True)
    (models / "qwen2.5-coder-0.5b-q8_0.gguf").write_bytes(b"GGUF")
    use(router, {})
    assert names(router) == ["ollama", "embedded", "offline"]


async def test_an_unreachable_endpoint_leaves_the_route_and_says_who_serves(
    router: EndpointRouter,
) -> None:
    use(router, {"endpoints": ENDPOINTS, "completion": {"endpoint": ["lcpp", "local"]}})
    error = BackendUnavailable(
        "http://127.0.0.1:8012", "refused", server="llama.cpp", endpoint="lcpp"
    )
    router.unavailable("lcpp", error)
    assert names(router) == ["local", "offline"]
    assert error.fallback == "local (Ollama at http://127.0.0.1:11434)"
    assert "meanwhile completions come from local (Ollama at" in error.user_message()
    router.answered("lcpp")  # it answered something after all: back in the route
    assert names(router) == ["lcpp", "local", "offline"]


async def test_reviews_take_the_first_review_endpoint_that_is_not_down(
    router: EndpointRouter,
) -> None:
    use(router, {"endpoints": ENDPOINTS, "review": {"endpoint": ["lcpp", "gpu"]}})
    assert router.review_backend().endpoint.name == "lcpp"
    router.unavailable("lcpp", BackendUnavailable("http://127.0.0.1:8012"))
    assert router.review_backend().endpoint.name == "gpu"


def test_a_key_pasted_where_its_variable_goes_is_not_repeated() -> None:
    _, problems = parse_settings({"endpoints": {"gpu": {"kind": "openai", "apiKeyEnv": "sk-1-2"}}})
    assert problems and all("sk-1-2" not in p for p in problems)


def test_a_password_in_a_url_is_never_shown() -> None:
    settings, _ = parse_settings(
        {"endpoints": {"gpu": {"kind": "openai", "url": "https://me:s3cret@gpu:8000/v1"}}}
    )
    assert "s3cret" not in settings.endpoints[0].description
    error = BackendUnavailable(
        "https://me:s3cret@gpu:8000/v1", "refused", server="x", endpoint="gpu"
    )
    assert "s3cret" not in error.user_message() and "s3cret" not in str(error)


def test_an_instruct_model_is_refused_for_completions_on_ollama_too() -> None:
    info = ModelInfo("qwen2.5-coder:7b-instruct", "{{ .Prompt }}", ("completion",), 32768)
    with pytest.raises(ModelWithoutFim):
        resolve_model_plan("qwen2.5-coder:7b-instruct", info, 4096)
    assert resolve_model_plan("qwen2.5-coder:7b-base", info, 4096).template is not None
