"""The GGUF header reader against files written by the `gguf` package (llama.cpp's own writer):
the tiny test model, a big-endian file, a vocabulary with merges to skip, and damaged files."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from lsp_assist.gguf_header import GgufError, read_metadata, read_model
from tests.engines.tiny_gguf import tiny_model_path

TOKENS = ["<unk>", "<s>", "</s>", "a", "b", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]


def write_gguf(
    path: Path,
    *,
    endianess: gguf.GGUFEndian = gguf.GGUFEndian.LITTLE,
    merges: int = 0,
    fim: bool = True,
) -> Path:
    writer = gguf.GGUFWriter(str(path), "qwen2", endianess=endianess)
    writer.add_name("Qwen2.5 Coder 1.5B")
    writer.add_context_length(32768)
    writer.add_token_list(TOKENS)
    writer.add_token_scores([0.0] * len(TOKENS))
    if merges:
        writer.add_token_merges([f"a{i} b{i}" for i in range(merges)])
    if fim:
        writer.add_uint32(gguf.Keys.Tokenizer.FIM_PRE_ID, 5)
    writer.add_float32("test.after_the_arrays", 0.5)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_tiny_model_reads_as_the_gguf_package_reads_it() -> None:
    path = tiny_model_path()
    reader = gguf.GGUFReader(path)
    tokens = reader.fields["tokenizer.ggml.tokens"]
    expected = {bytes(tokens.parts[i]).decode() for i in tokens.data}
    model = read_model(path)
    assert model.architecture == "llama" and model.name == "lsp-assist tiny test model"
    assert model.context_length == 4096
    assert model.tokens == expected and len(model.tokens) == 363
    assert model.fim_prefix_token == "<|fim_prefix|>"


def test_a_model_without_fim_tokens_has_no_fim_prefix() -> None:
    model = read_model(tiny_model_path(fim_tokens=False))
    assert model.fim_prefix_token == "" and "<|fim_prefix|>" not in model.tokens


def test_a_big_endian_file_reads_the_same(tmp_path: Path) -> None:
    little = read_model(write_gguf(tmp_path / "le.gguf"))
    big = read_model(write_gguf(tmp_path / "be.gguf", endianess=gguf.GGUFEndian.BIG))
    assert big == little
    assert little.architecture == "qwen2" and little.context_length == 32768
    assert little.fim_prefix_token == "<|fim_prefix|>"


def test_arrays_not_asked_for_are_skipped_and_what_follows_them_is_read(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "merges.gguf", merges=5000)
    metadata = read_metadata(path)
    assert "tokenizer.ggml.merges" not in metadata and "tokenizer.ggml.tokens" not in metadata
    assert metadata["test.after_the_arrays"] == pytest.approx(0.5)
    assert metadata["general.name"] == "Qwen2.5 Coder 1.5B"
    wanted = read_metadata(path, arrays={"tokenizer.ggml.merges"})
    assert len(wanted["tokenizer.ggml.merges"]) == 5000


def test_damaged_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    whole = write_gguf(tmp_path / "whole.gguf").read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(GgufError, match="past the end"):
        read_model(truncated)
    text = tmp_path / "notes.gguf"
    text.write_text("these are not the weights you are looking for\n")
    with pytest.raises(GgufError, match="not a GGUF file"):
        read_model(text)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GgufError, match="too short"):
        read_model(empty)
