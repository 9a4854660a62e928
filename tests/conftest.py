from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fakes.fake_ollama import FakeModel, FakeOllama

# Models the end-to-end tests use besides the fake's defaults, with the FIM branch of each
# one's Ollama template (see shared/reference/ollama-api.md §2.2).
EXTRA_MODELS = [
    FakeModel(
        name="codellama:7b-code",
        template=(
            "{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>"
            "{{- else }}{{ .Prompt }}{{- end }}"
        ),
        family="llama",
        context_length=16384,
    ),
    FakeModel(
        name="starcoder2:3b",
        template=(
            "<file_sep>\n{{- if .Suffix }}<fim_prefix>\n{{ .Prompt }}<fim_suffix>{{ .Suffix }}"
            "<fim_middle>\n{{- else }}{{ .Prompt }}\n{{- end }}<|end_of_text|>"
        ),
        family="starcoder2",
        context_length=16384,
    ),
    FakeModel(
        name="codestral:22b",
        template="[SUFFIX]{{ .Suffix }}[PREFIX] {{ .Prompt }}",
        family="llama",
        context_length=32768,
    ),
]


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(ttft=0.005, token_delay=0.001) as fake:
        for model in EXTRA_MODELS:
            fake.add_model(model)
        yield fake


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every server a test starts keeps its review cache and dismissals in a fresh state
    directory, never the user's (a test that restarts a server on purpose passes its own)."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous
