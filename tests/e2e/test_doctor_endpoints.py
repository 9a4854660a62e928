"""The doctor for every kind of endpoint: a real llama.cpp server (its own API and its `/v1`), the
embedded engine on the tiny GGUF model, a dead endpoint, an instruct model, and named Ollama
endpoints on the fake Ollama."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lsp_assist.backends.embedded import EmbeddedEngine
from lsp_assist.config import Settings, parse_settings
from lsp_assist.doctor import (
    DoctorReport,
    EndpointReport,
    PullProgress,
    diagnose,
    format_report,
    pull_missing,
)
from tests.engines.fixtures import llamacpp_fixture, tiny_model_fixture  # noqa: F401
from tests.engines.llamacpp_server import LlamaServer, running_llamacpp
from tests.engines.tiny_gguf import tiny_model_path
from tests.fakes.fake_ollama import FakeOllama, unused_url

REVIEW_MODEL = "qwen2.5-coder:7b-instruct"


def settings(raw: dict[str, Any]) -> Settings:
    parsed, problems = parse_settings(raw)
    assert problems == []
    return parsed


def endpoint(report: DoctorReport, name: str) -> EndpointReport:
    (found,) = [e for e in report.endpoints if e.name == name]
    return found


@pytest.fixture
def instruct_server(tiny_model: Path, tmp_path: Path) -> Iterator[LlamaServer]:
    """llama.cpp serving the tiny model under an instruct model's file name."""
    copy = tmp_path / "models" / "Qwen2.5-Coder-7B-Instruct-Q8_0.gguf"
    copy.parent.mkdir()
    shutil.copy(tiny_model, copy)
    with running_llamacpp(copy) as server:
        yield server


# -- llama.cpp ---------------------------------------------------------------------------------


async def test_a_llama_cpp_server_is_checked_for_its_model_fim_tokens_and_context(
    llamacpp: LlamaServer,
) -> None:
    report = await diagnose(
        settings({"endpoints": {"lcpp": {"kind": "llamacpp", "url": llamacpp.url}}})
    )
    assert report.ok, format_report(report)
    lcpp = endpoint(report, "lcpp")
    assert lcpp.server.reachable and lcpp.server.version == "b0-unknown"
    assert lcpp.roles == ("completion", "review")
    (model,) = lcpp.models
    assert model.name == llamacpp.model_path.name and model.present is True
    assert model.fim is True and model.fim_via == "qwen FIM tokens (in its vocabulary)"
    assert model.context_length == 4096
    assert "also serves reviews" in model.note
    text = format_report(report)
    assert f"[ok] lcpp: llama.cpp at {llamacpp.url}, build b0-unknown" in text
    assert text.endswith("All good.")


async def test_a_llama_cpp_model_without_fim_tokens_is_refused_with_the_fix() -> None:
    with running_llamacpp(tiny_model_path(fim_tokens=False)) as server:
        report = await diagnose(
            settings({"endpoints": {"lcpp": {"kind": "llamacpp", "url": server.url}}})
        )
    (model,) = endpoint(report, "lcpp").models
    assert model.present is True and model.fim is False
    assert "no FIM tokens" in model.problem
    assert "base code model" in model.fix and "lspAssist.endpoints.lcpp.fim" in model.fix
    assert not report.ok and "1 problem found." in format_report(report)


# -- OpenAI-compatible -------------------------------------------------------------------------


async def test_an_openai_compatible_server_needs_its_fim_tokens_named_when_the_name_hides_them(
    llamacpp: LlamaServer,
) -> None:
    """llama-server's `/v1` names the model by its file path, which says nothing of its family:
    with `fim: "qwen"` it completes, without it the doctor says what to set."""
    v1 = llamacpp.url + "/v1"
    report = await diagnose(
        settings(
            {
                "endpoints": {
                    "gpu": {"kind": "openai", "url": v1, "fim": "qwen"},
                    "plain": {"kind": "openai", "url": v1},
                }
            }
        )
    )
    gpu, plain = endpoint(report, "gpu"), endpoint(report, "plain")
    assert gpu.ok and gpu.server.version == "b0-unknown"
    (served,) = gpu.models
    assert served.name == str(llamacpp.model_path) and served.present is True
    assert served.fim_via == "qwen FIM tokens (lspAssist.endpoints.gpu.fim)"
    assert served.context_length == 4096
    assert "the one model it serves" in served.note
    (unknown,) = plain.models
    assert unknown.present is True and unknown.fim is False
    assert "cannot be told from its name" in unknown.problem
    assert "lspAssist.endpoints.plain.fim" in unknown.fix


async def test_an_instruct_model_is_refused_for_completions_with_the_fix_but_fine_for_reviews(
    instruct_server: LlamaServer, llamacpp: LlamaServer
) -> None:
    chat = {"kind": "openai", "url": instruct_server.url + "/v1", "fim": "qwen"}
    both = settings({"endpoints": {"chat": chat}})
    refused = (await diagnose(both)).endpoints[0].models[0]
    assert refused.role == "completion" and refused.fim is False
    assert "instruct" in refused.problem and "refused for completions" in refused.problem
    assert "base code model" in refused.fix and "review" in refused.fix
    # The same server on llama.cpp's own API: the file name says instruct too.
    own_api = settings({"endpoints": {"lcpp": {"kind": "llamacpp", "url": instruct_server.url}}})
    assert "instruct" in (await diagnose(own_api)).endpoints[0].models[0].problem
    # Reviews want an instruct model: the base model completes, the instruct one reviews.
    split = settings(
        {
            "endpoints": {"lcpp": {"kind": "llamacpp", "url": llamacpp.url}, "chat": chat},
            "completion": {"endpoint": "lcpp"},
            "review": {"endpoint": "chat"},
        }
    )
    report = await diagnose(split)
    assert report.ok, format_report(report)
    assert report.routes == {"completion": ("lcpp",), "review": ("chat",)}
    assert [m.role for m in endpoint(report, "chat").models] == ["review"]


# -- unreachable -------------------------------------------------------------------------------


async def test_an_endpoint_that_refuses_connections_is_unreachable_with_the_fix() -> None:
    down = unused_url()
    report = await diagnose(
        settings(
            {
                "endpoints": {
                    "lcpp": {"kind": "llamacpp", "url": down},
                    "gpu": {"kind": "openai", "url": down + "/v1"},
                }
            }
        )
    )
    lcpp, gpu = endpoint(report, "lcpp"), endpoint(report, "gpu")
    assert not lcpp.server.reachable and lcpp.server.problem == "not reachable"
    assert "llama-server" in lcpp.server.fix and "lspAssist.endpoints.lcpp.url" in lcpp.server.fix
    assert not gpu.server.reachable and "lspAssist.endpoints.gpu.url" in gpu.server.fix
    assert all(m.present is None for m in lcpp.models + gpu.models)
    text = format_report(report)
    assert f"[!!] lcpp: llama.cpp at {down}: not reachable" in text
    assert "[--]   (the model it serves) (completion model): not checked" in text
    assert text.endswith("2 problems found.")
    as_json = report.to_json()
    assert [e["reachable"] for e in as_json["endpoints"]] == [False, False]
    assert "host" not in as_json  # no Ollama endpoint is used


# -- the embedded engine -----------------------------------------------------------------------


async def test_the_embedded_engine_is_checked_from_its_gguf_header_without_starting_it(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never(self: EmbeddedEngine) -> None:
        raise AssertionError("the doctor started the embedded engine")

    monkeypatch.setattr(EmbeddedEngine, "start", never)
    here = {"kind": "embedded", "modelPath": str(tiny_model)}
    report = await diagnose(settings({"endpoints": {"here": here}}))
    assert report.ok, format_report(report)
    server = endpoint(report, "here").server
    assert server.version.startswith("xllamacpp ")
    (model,) = endpoint(report, "here").models
    assert model.name == tiny_model.name and model.present is True
    assert model.fim_via == "qwen FIM tokens (in its vocabulary, read from the GGUF header)"
    assert model.context_length == 4096 and "trained on 4096 tokens" in model.note


async def test_the_embedded_engine_is_started_and_asked_when_the_doctor_is_told_to(
    tiny_model: Path,
) -> None:
    here = {"kind": "embedded", "modelPath": str(tiny_model), "threads": 1}
    report = await diagnose(settings({"endpoints": {"here": here}}), start_embedded=True)
    assert report.ok, format_report(report)
    (model,) = endpoint(report, "here").models
    assert model.fim_via == "qwen FIM tokens (in its vocabulary)"
    assert "started for the doctor" in model.note and model.context_length == 4096


async def test_an_embedded_model_without_fim_tokens_is_refused_from_its_header() -> None:
    here = {"kind": "embedded", "modelPath": str(tiny_model_path(fim_tokens=False))}
    (model,) = (await diagnose(settings({"endpoints": {"here": here}}))).endpoints[0].models
    assert model.fim is False and "no FIM tokens" in model.problem


async def test_an_embedded_endpoint_without_its_model_file_says_to_pull_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "qwen2.5-coder-1.5b-q8_0.gguf"
    named = await diagnose(
        settings({"endpoints": {"here": {"kind": "embedded", "modelPath": str(missing)}}})
    )
    (model,) = named.endpoints[0].models
    assert model.present is False and model.problem == f"no model file at {missing}"
    assert model.fix.startswith("run `lsp-assist models pull`")
    assert "lspAssist.endpoints.here.modelPath" in model.fix
    # No modelPath and nothing pulled yet.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pulled = await diagnose(settings({"endpoints": {"here": {"kind": "embedded"}}}))
    (model,) = pulled.endpoints[0].models
    assert model.present is False and "no model pulled" in model.problem
    assert model.fix == "run `lsp-assist models pull`"


async def test_an_embedded_endpoint_without_xllamacpp_says_how_to_install_it(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # what an import finds when absent
    here = {"kind": "embedded", "modelPath": str(tiny_model)}
    report = await diagnose(settings({"endpoints": {"here": here}}))
    server = endpoint(report, "here").server
    assert not report.ok and "xllamacpp" in server.problem
    assert server.fix == "pip install 'lsp-assist[embedded]'"
    assert endpoint(report, "here").models[0].present is True  # the file is still checked


# -- Ollama endpoints and the report as a whole ------------------------------------------------


async def test_named_ollama_endpoints_are_checked_and_pulled_on_their_own_url(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.remove_model(REVIEW_MODEL)
    raw = {"ollama": {"host": unused_url()}, "endpoints": {"box": {"url": fake_ollama.url}}}
    report = await diagnose(settings(raw))
    box = endpoint(report, "box")
    assert box.kind == "ollama" and box.server.version == "0.13.5"
    assert [(m.name, m.pulled) for m in box.models] == [
        ("qwen2.5-coder:1.5b-base", True),
        (REVIEW_MODEL, False),
    ]
    assert box.models[1].fix == f"ollama pull {REVIEW_MODEL}"
    progress: list[PullProgress] = []
    assert [(e.name, names) for e, names in report.to_pull] == [("box", [REVIEW_MODEL])]
    results = await pull_missing(report, progress.append)
    assert [(r.model, r.ok) for r in results] == [(REVIEW_MODEL, True)]
    assert progress[-1].status == "success"
    assert (await diagnose(settings(raw))).ok


async def test_settings_without_endpoints_keep_the_ollama_only_report_and_gain_its_endpoint(
    fake_ollama: FakeOllama,
) -> None:
    report = await diagnose(settings({"ollama": {"host": fake_ollama.url}}))
    text = format_report(report)
    assert text.splitlines()[0] == f"[ok] Ollama 0.13.5 at {fake_ollama.url}"
    as_json = report.to_json()
    assert as_json["host"]["version"] == "0.13.5"
    assert [m["name"] for m in as_json["models"]] == ["qwen2.5-coder:1.5b-base", REVIEW_MODEL]
    (only,) = as_json["endpoints"]
    assert (only["name"], only["kind"], only["url"]) == ("ollama", "ollama", fake_ollama.url)
    assert only["roles"] == ["completion", "review"] and only["ok"] is True


async def test_a_mixed_configuration_reports_every_endpoint_each_role_uses(
    llamacpp: LlamaServer, fake_ollama: FakeOllama, tiny_model: Path
) -> None:
    down = unused_url()
    raw = {
        "endpoints": {
            "lcpp": {"kind": "llamacpp", "url": llamacpp.url},
            "box": {"kind": "ollama", "url": fake_ollama.url},
            "here": {"kind": "embedded", "modelPath": str(tiny_model)},
            "spare": {"kind": "llamacpp", "url": down},
            "old": {"kind": "openai", "url": down + "/v1"},
        },
        "completion": {"endpoint": ["lcpp", "here", "spare"]},
        "review": {"endpoint": "box"},
    }
    report = await diagnose(settings(raw))
    assert [e.name for e in report.endpoints] == ["lcpp", "box", "here", "spare"]
    assert report.unused == ("old",)
    assert [m.role for m in endpoint(report, "box").models] == ["review"]
    text = format_report(report)
    assert (
        text.splitlines()[0]
        == "Endpoints: completions from lcpp then here then spare; reviews from box"
    )
    assert "[--] not used by any role, not checked: old" in text
    assert text.endswith("1 problem found.")
    as_json = report.to_json()
    assert as_json["host"]["url"] == fake_ollama.url
    assert {m["endpoint"] for m in as_json["models"]} == {"lcpp", "box", "here", "spare"}
    assert as_json["unused"] == ["old"]
