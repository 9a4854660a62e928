from __future__ import annotations

import pytest

from lsp_assist.config import DEFAULT_OLLAMA_HOST, Settings, merge_settings_json, parse_settings


def test_documented_settings_shape_is_read_in_camel_case() -> None:
    settings, problems = parse_settings(
        {
            "ollama": {"host": "http://10.1.2.3:11434", "keepAlive": "5m"},
            "completion": {
                "enabled": False,
                "model": "deepseek-coder:1.3b-base",
                "debounceMs": 0,
                "maxTokens": 64,
                "multiline": "never",
                "temperature": 0.0,
            },
            "review": {"enabled": False, "model": "qwen2.5-coder:14b", "onSave": False},
        }
    )
    assert problems == []
    assert settings.ollama.host == "http://10.1.2.3:11434"
    assert settings.ollama.keepAlive == "5m"
    assert settings.completion.enabled is False
    assert settings.completion.model == "deepseek-coder:1.3b-base"
    assert settings.completion.debounceMs == 0
    assert settings.completion.maxTokens == 64
    assert settings.completion.multiline == "never"
    assert settings.review.model == "qwen2.5-coder:14b"
    assert settings.review.onSave is False


def test_missing_or_empty_settings_give_the_defaults() -> None:
    assert parse_settings(None) == (Settings(), [])
    assert parse_settings({}) == (Settings(), [])
    defaults = Settings()
    assert defaults.completion.model == "qwen2.5-coder:1.5b-base"
    assert defaults.completion.debounceMs == 75
    assert defaults.completion.maxTokens == 128
    assert defaults.ollama.keepAlive == "30m"
    assert defaults.review.model == "qwen2.5-coder:7b-instruct"


def test_unknown_keys_are_ignored() -> None:
    settings, problems = parse_settings({"completion": {"model": "m", "bogus": 1}, "other": {}})
    assert problems == []
    assert settings.completion.model == "m"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"completion": {"debounceMs": -5}}, "completion.debounceMs"),
        ({"completion": {"maxTokens": "many"}}, "completion.maxTokens"),
        ({"completion": {"multiline": "sometimes"}}, "completion.multiline"),
        ({"completion": {"temperature": 9}}, "completion.temperature"),
        ({"completion": {"enabled": "yes"}}, "completion.enabled"),
        ({"ollama": {"keepAlive": "30"}}, "ollama.keepAlive"),
        ({"ollama": "localhost"}, "ollama"),
    ],
)
def test_a_bad_value_gives_one_message_and_its_default(raw: dict, field: str) -> None:
    settings, problems = parse_settings(raw)
    assert len(problems) == 1
    assert problems[0].startswith(field)
    assert settings == Settings()


def test_good_values_survive_next_to_a_bad_one() -> None:
    settings, problems = parse_settings({"completion": {"debounceMs": -1, "maxTokens": 32}})
    assert len(problems) == 1
    assert settings.completion.maxTokens == 32
    assert settings.completion.debounceMs == 75


def test_ollama_host_defaults_to_the_environment_then_localhost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert Settings().ollama.resolved_host == DEFAULT_OLLAMA_HOST
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-box:11434")
    assert Settings().ollama.resolved_host == "http://gpu-box:11434"
    settings, _ = parse_settings({"ollama": {"host": "http://127.0.0.1:9"}})
    assert settings.ollama.resolved_host == "http://127.0.0.1:9"


def test_settings_nested_under_their_section_name_are_accepted() -> None:
    settings, problems = parse_settings({"lspAssist": {"completion": {"maxTokens": 7}}})
    assert problems == []
    assert settings.completion.maxTokens == 7


def test_workspace_configuration_refines_initialization_options() -> None:
    init = {"ollama": {"host": "http://127.0.0.1:9"}, "completion": {"debounceMs": 0}}
    configuration = {"completion": {"model": "codellama:7b-code"}}
    settings, problems = parse_settings(merge_settings_json(init, configuration))
    assert problems == []
    assert settings.ollama.host == "http://127.0.0.1:9"
    assert settings.completion.debounceMs == 0
    assert settings.completion.model == "codellama:7b-code"
    assert merge_settings_json(init, None) == init
    assert merge_settings_json(None, configuration) == configuration
