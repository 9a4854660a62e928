"""The fake Ollama's model registry: what `/api/tags`, `/api/show` and `/api/ps` describe.

A `FakeModel` carries the facts a client looks at: its Go template (Ollama derives the `insert`
capability from `.Suffix` appearing in it, and `tools` from `.Tools`), family, context length and
size. The templates below are the FIM branches of the Ollama library models the project targets
(shared/reference/ollama-api.md §2.2).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.ollama_wire import rfc3339nano

QWEN_TEMPLATE = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>\n"
    "{{- else }}{{ .Prompt }}\n"
    "{{- end }}"
)
# qwen2.5-coder instruct tags: the same FIM branch, then ChatML with tool calling.
QWEN_INSTRUCT_TEMPLATE = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>\n"
    "{{- else if .Messages }}\n"
    "{{- if or .System .Tools }}<|im_start|>system\n"
    "{{- if .System }}\n{{ .System }}\n{{- end }}\n"
    "{{- if .Tools }}\n\n# Tools\n\nYou may call one or more functions to assist with the user "
    "query.\n\n<tools>\n{{- range .Tools }}\n"
    '{"type": "function", "function": {{ .Function }}}\n{{- end }}\n</tools>\n{{- end }}'
    "<|im_end|>\n{{ end }}\n"
    "{{- range $i, $_ := .Messages }}\n"
    "{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n"
    '{{- if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n'
    '{{ else if eq .Role "assistant" }}<|im_start|>assistant\n{{ .Content }}'
    "{{ if not $last }}<|im_end|>\n{{ end }}\n"
    '{{- else if eq .Role "tool" }}<|im_start|>user\n<tool_response>\n{{ .Content }}\n'
    "</tool_response><|im_end|>\n{{ end }}\n"
    '{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant\n{{ end }}\n'
    "{{- end }}\n"
    "{{- else }}\n"
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    "{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"
)
# deepseek-coder v1: no .Suffix, so Ollama refuses a suffix with "does not support insert".
DEEPSEEK_V1_TEMPLATE = "{{ .System }}\n### Instruction:\n{{ .Prompt }}\n### Response:\n"
# deepseek-coder-v2 (incl. 16b-lite-base): ｜ is U+FF5C and ▁ is U+2581.
DEEPSEEK_V2_TEMPLATE = (
    "{{- if .Suffix }}<｜fim▁begin｜>{{ .Prompt }}<｜fim▁hole｜>{{ .Suffix }}<｜fim▁end｜>\n"
    "{{- else if .Messages }}<｜begin▁of▁sentence｜>{{ if .System }}{{ .System }}\n\n{{ end }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" }}User: {{ .Content }}\n\n'
    '{{ else if eq .Role "assistant" }}Assistant: {{ .Content }}<｜end▁of▁sentence｜>\n{{ end }}\n'
    "{{- end }}Assistant:\n"
    "{{- else }}{{ .Prompt }}\n"
    "{{- end }}"
)

MODIFIED_AT = "2025-05-10T08:06:48.639712648-07:00"


@dataclass
class FakeModel:
    name: str
    # Ollama Go template text; the `insert` capability iff ".Suffix" is in it.
    template: str = QWEN_TEMPLATE
    family: str = "qwen2"
    context_length: int = 32768
    parameter_size: str = "1.5B"
    quantization_level: str = "Q4_K_M"
    stop: list[str] = field(default_factory=list)  # Modelfile `PARAMETER stop` defaults
    system: str = ""  # Modelfile SYSTEM
    load_time: float = 0.002  # seconds a cold load or a reload (num_ctx changed) takes
    modified_at: str = MODIFIED_AT

    @property
    def capabilities(self) -> list[str]:
        """As Ollama computes them from the template (server/images.go)."""
        capabilities = ["completion"]
        if ".Tools" in self.template:
            capabilities.append("tools")
        if ".Suffix" in self.template:
            capabilities.append("insert")
        return capabilities

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def parameter_count(self) -> int:
        number = re.match(r"[\d.]+", self.parameter_size)
        scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(self.parameter_size[-1:].upper(), 1)
        return int(float(number.group()) * scale) if number else 0

    @property
    def size(self) -> int:
        bits = 4.5 if self.quantization_level.startswith("Q4") else 8.5
        return int(self.parameter_count * bits / 8) + 50_000_000

    def render_fim(self, prompt: str, suffix: str) -> str:
        """The template's `.Suffix` branch with Prompt and Suffix filled in: roughly what
        Ollama feeds the model in suffix mode (System, Messages and Tools are not passed)."""
        text = re.sub(r"\s*\{\{-", "{{", self.template)
        text = re.sub(r"-\}\}\s*", "}}", text)
        branch = re.search(r"\{\{\s*if \.Suffix\s*\}\}(.*?)\{\{\s*(?:else|end)\b", text, re.S)
        if branch is not None:
            text = branch.group(1)
        text = re.sub(r"\{\{\s*\.Prompt\s*\}\}", lambda _m: prompt, text)
        text = re.sub(r"\{\{\s*\.Suffix\s*\}\}", lambda _m: suffix, text)
        return re.sub(r"\{\{[^{}]*\}\}", "", text)


def default_models() -> list[FakeModel]:
    return [
        FakeModel(name="qwen2.5-coder:1.5b-base"),
        FakeModel(
            name="qwen2.5-coder:7b-instruct", template=QWEN_INSTRUCT_TEMPLATE, parameter_size="7.6B"
        ),
        FakeModel(
            name="deepseek-coder:1.3b-base",
            template=DEEPSEEK_V1_TEMPLATE,
            family="llama",
            context_length=16384,
            parameter_size="1B",
            quantization_level="Q4_0",
        ),
        FakeModel(
            name="deepseek-coder-v2:16b-lite-base-q4_0",
            template=DEEPSEEK_V2_TEMPLATE,
            family="deepseek2",
            context_length=163840,
            parameter_size="15.7B",
            quantization_level="Q4_0",
            stop=["User:", "Assistant:"],
        ),
    ]


# -- names ----------------------------------------------------------------------------------


def full_model_name(name: str) -> str | None:
    """`registry.ollama.ai/library/<model>:<tag>` as Ollama's model.ParseName spells a name;
    None for a name it considers invalid."""
    name = name.strip().split("@", 1)[0]
    parts = name.split("/")
    if not name or len(parts) > 3 or not all(parts):
        return None
    host, namespace = "registry.ollama.ai", "library"
    if len(parts) == 3:
        host, namespace = parts[0], parts[1]
    elif len(parts) == 2:
        namespace = parts[0]
    model, colon, tag = parts[-1].partition(":")
    if not model or (colon and not tag):
        return None
    return f"{host}/{namespace}/{model}:{tag or 'latest'}"


def model_key(name: str) -> str | None:
    """What two names must share to mean the same model (Ollama compares case-insensitively)."""
    full = full_model_name(name)
    return full.lower() if full is not None else None


# -- JSON shapes (api.ModelDetails, ListModelResponse, ShowResponse, ProcessModelResponse) ---


def details_json(model: FakeModel) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
    }


def tags_entry(model: FakeModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": model.modified_at,
        "size": model.size,
        "digest": model.digest,
        "details": details_json(model),
    }


def _parameters_text(model: FakeModel) -> str:
    return "\n".join(f"{'stop':<30} {json.dumps(stop)}" for stop in model.stop)


def show_json(model: FakeModel) -> dict[str, Any]:
    arch = model.family
    modelfile = (
        '# Modelfile generated by "ollama show"\n'
        "# To build a new Modelfile based on this, replace FROM with:\n"
        f"# FROM {model.name}\n\n"
        f"FROM /root/.ollama/models/blobs/sha256-{model.digest}\n"
        f'TEMPLATE """{model.template}"""\n'
        + "".join(f"PARAMETER stop {json.dumps(stop)}\n" for stop in model.stop)
    )
    shown: dict[str, Any] = {"license": "", "modelfile": modelfile}
    if model.stop:
        shown["parameters"] = _parameters_text(model)
    shown["template"] = model.template
    if model.system:
        shown["system"] = model.system
    shown["details"] = details_json(model)
    # model_info is required by ollama-python's ShowResponse (no default): always present.
    shown["model_info"] = {
        "general.architecture": arch,
        "general.file_type": 15 if model.quantization_level == "Q4_K_M" else 2,
        "general.parameter_count": model.parameter_count,
        "general.quantization_version": 2,
        f"{arch}.context_length": model.context_length,
    }
    shown["capabilities"] = model.capabilities
    shown["modified_at"] = model.modified_at
    return shown


def ps_entry(model: FakeModel, *, expires_at_ns: int, context_length: int) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "size": model.size,
        "digest": model.digest,
        "details": details_json(model),
        "expires_at": rfc3339nano(expires_at_ns),
        "size_vram": model.size,
        "context_length": context_length,
    }
