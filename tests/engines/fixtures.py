"""Pytest fixtures that give a test a real llama.cpp server on the tiny model.

Import them where they are needed (pytest finds fixtures by name in the test module). The
Python names end in `_fixture` so that a test's `llamacpp` parameter does not shadow an import
(ruff's F811); the fixtures themselves are named `tiny_model`, `llamacpp`, `llamacpp_parallel`:

    from tests.engines.fixtures import llamacpp_fixture, tiny_model_fixture  # noqa: F401

    def test_something(llamacpp: LlamaServer) -> None: ...

(`from tests.engines.fixtures import tiny_model, llamacpp  # noqa: F401` works too, but then
ruff reports F811 on every test that takes `llamacpp` as a parameter.)

A server starts in about 0.1 s, so each test gets a fresh one: no test sees another's prompt
cache or metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.engines.llamacpp_server import LlamaServer, running_llamacpp
from tests.engines.tiny_gguf import tiny_model_path

StartLlamaServer = Callable[..., LlamaServer]


@pytest.fixture(scope="session", name="tiny_model")
def tiny_model_fixture() -> Path:
    """The cached tiny GGUF model (built on first use, shared with the benchmarks)."""
    return tiny_model_path()


@pytest.fixture(name="llamacpp")
def llamacpp_fixture(tiny_model: Path) -> Iterator[LlamaServer]:
    """A healthy llama.cpp server with one slot and 4096 tokens of context."""
    with running_llamacpp(tiny_model) as server:
        yield server


@pytest.fixture(name="llamacpp_parallel")
def llamacpp_parallel_fixture(tiny_model: Path) -> Iterator[StartLlamaServer]:
    """Starts servers with other settings, all stopped after the test:

    server = llamacpp_parallel(2)  # two slots of 4096 tokens each (n_ctx defaults to 4096 * 2)
    """
    with ExitStack() as stack:

        def start(parallel: int, **options: Any) -> LlamaServer:
            options.setdefault("n_ctx", 4096 * parallel)
            return stack.enter_context(running_llamacpp(tiny_model, parallel=parallel, **options))

        yield start


# The names the fixtures go by, for `from tests.engines.fixtures import tiny_model, llamacpp`.
tiny_model = tiny_model_fixture
llamacpp = llamacpp_fixture
llamacpp_parallel = llamacpp_parallel_fixture
