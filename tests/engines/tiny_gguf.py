"""A tiny, random-weight GGUF model that llama.cpp's real server loads in a tenth of a second.

The tests and benchmarks need a *real* llama.cpp server (real tokenizer, real KV cache, real
prompt-cache timings, real grammar sampling), but no model can be downloaded here. So we build
one: a 2-layer llama with a SentencePiece vocabulary of 363 tokens in which nearly every
character is one token, plus the Qwen2.5-Coder FIM control tokens so `/infill` and FIM
detection work.

The weights are random but shaped so that sampled text is always printable ASCII, space or
newline (never a control token, never EOS unless `eos_logit` asks for it): every embedding has
1.0 in dimension 0, and the output row of each allowed token has +1 there while every other row
has -3, a gap of about 30 logits after the final norm. Attention and FFN outputs are tiny, so
the model is close to a random bigram model while every layer and the KV cache really run.

The file is byte-identical for the same parameters (seeded numpy, no timestamps).

    python -m tests.engines.tiny_gguf OUT.gguf [--eos-logit 1.0] [--n-ctx N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

FIM_TOKENS = {
    "endoftext": "<|endoftext|>",
    "fim_prefix": "<|fim_prefix|>",
    "fim_middle": "<|fim_middle|>",
    "fim_suffix": "<|fim_suffix|>",
    "fim_pad": "<|fim_pad|>",
    "repo_name": "<|repo_name|>",
    "file_sep": "<|file_sep|>",
}

# ChatML layout in plain text (the vocabulary has no <|im_start|> token, so it is spelt out in
# characters); the "<|im_start|>" text also lets llama.cpp's non-Jinja detector recognise it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPACE = "\u2581"  # SentencePiece's visible space
ALLOWED_LOGIT_DIM0 = 1.0
FORBIDDEN_LOGIT_DIM0 = -3.0
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "engines"


@dataclass(frozen=True)
class Vocab:
    """The token list with types and scores, and the ids the GGUF keys point at."""

    tokens: list[str]
    types: list[int]
    scores: list[float]
    ids: dict[str, int]
    allowed: list[int]  # tokens the shaped output layer lets the model sample


def build_vocab(*, fim_tokens: bool = True) -> Vocab:
    tokens: list[str] = []
    types: list[int] = []
    scores: list[float] = []
    ids: dict[str, int] = {}

    def add(text: str, kind: gguf.TokenType, score: float = 0.0) -> int:
        tokens.append(text)
        types.append(int(kind))
        scores.append(score)
        return len(tokens) - 1

    ids["unk"] = add("<unk>", gguf.TokenType.UNKNOWN)
    ids["bos"] = add("<s>", gguf.TokenType.CONTROL)
    ids["eos"] = add("</s>", gguf.TokenType.CONTROL)
    byte_ids = [add(f"<0x{b:02X}>", gguf.TokenType.BYTE) for b in range(256)]
    # Longer runs score higher, so SPM's merge loop joins spaces into the widest piece.
    space_ids = [
        add(SPACE, gguf.TokenType.NORMAL, -1.0),
        add(SPACE * 2, gguf.TokenType.NORMAL, -0.5),
        add(SPACE * 4, gguf.TokenType.NORMAL, -0.25),
    ]
    printable = [c for c in string.printable if 0x21 <= ord(c) <= 0x7E]
    assert len(printable) == 94
    char_ids = [add(c, gguf.TokenType.NORMAL, -2.0) for c in printable]
    if fim_tokens:
        for name, text in FIM_TOKENS.items():
            ids[name] = add(text, gguf.TokenType.CONTROL)
    allowed = [*space_ids, *char_ids, byte_ids[0x0A]]
    return Vocab(tokens, types, scores, ids, allowed)


def _weights(
    vocab: Vocab,
    *,
    n_embd: int,
    n_layer: int,
    n_ff: int,
    seed: int,
    eos_logit: float | None,
) -> dict[str, np.ndarray]:
    """Tensors in llama.cpp's llama layout (numpy shape = [rows, cols], GGUF reverses it)."""
    rng = np.random.default_rng(seed)
    n_vocab = len(vocab.tokens)

    def normal(std: float, *shape: int) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    embd = normal(0.1, n_vocab, n_embd)
    embd[:, 0] = 1.0
    output = normal(0.1, n_vocab, n_embd)
    output[:, 0] = FORBIDDEN_LOGIT_DIM0
    output[vocab.allowed, 0] = ALLOWED_LOGIT_DIM0
    if eos_logit is not None:
        output[vocab.ids["eos"], 0] = eos_logit

    ones = np.ones(n_embd, dtype=np.float32)
    tensors = {"token_embd.weight": embd}
    for i in range(n_layer):
        tensors |= {
            f"blk.{i}.attn_norm.weight": ones.copy(),
            f"blk.{i}.attn_q.weight": normal(0.1, n_embd, n_embd),
            f"blk.{i}.attn_k.weight": normal(0.1, n_embd, n_embd),
            f"blk.{i}.attn_v.weight": normal(0.1, n_embd, n_embd),
            # Tiny outputs keep the residual stream (and so dim 0) dominated by the embedding.
            f"blk.{i}.attn_output.weight": normal(0.002, n_embd, n_embd),
            f"blk.{i}.ffn_norm.weight": ones.copy(),
            f"blk.{i}.ffn_gate.weight": normal(0.1, n_ff, n_embd),
            f"blk.{i}.ffn_up.weight": normal(0.1, n_ff, n_embd),
            f"blk.{i}.ffn_down.weight": normal(0.002, n_embd, n_ff),
        }
    tensors["output_norm.weight"] = ones.copy()
    tensors["output.weight"] = output
    return tensors


def build_tiny_gguf(
    path: Path,
    *,
    n_embd: int = 128,
    n_layer: int = 2,
    n_head: int = 4,
    n_ff: int = 256,
    n_ctx: int = 4096,
    seed: int = 0,
    eos_logit: float | None = None,
    fim_tokens: bool = True,
) -> Path:
    """Write the model to `path` (atomically: readers never see half a file) and return it.

    `fim_tokens=False` leaves out the seven control tokens and the FIM keys: a model that
    cannot do FIM, to check how the server tells the two apart.
    """
    path = Path(path)
    vocab = build_vocab(fim_tokens=fim_tokens)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp_name, "llama")
        writer.add_name("lsp-assist tiny test model")
        writer.add_context_length(n_ctx)
        writer.add_embedding_length(n_embd)
        writer.add_block_count(n_layer)
        writer.add_feed_forward_length(n_ff)
        writer.add_head_count(n_head)
        writer.add_head_count_kv(n_head)
        writer.add_rope_dimension_count(n_embd // n_head)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_vocab_size(len(vocab.tokens))

        writer.add_tokenizer_model("llama")
        writer.add_token_list(vocab.tokens)
        writer.add_token_types(vocab.types)
        writer.add_token_scores(vocab.scores)
        writer.add_bos_token_id(vocab.ids["bos"])
        writer.add_eos_token_id(vocab.ids["eos"])
        writer.add_unk_token_id(vocab.ids["unk"])
        end_of_text = vocab.ids.get("endoftext", vocab.ids["eos"])
        writer.add_pad_token_id(end_of_text)
        writer.add_eot_token_id(end_of_text)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        writer.add_add_space_prefix(False)
        fim_keys = {
            gguf.Keys.Tokenizer.FIM_PRE_ID: "fim_prefix",
            gguf.Keys.Tokenizer.FIM_SUF_ID: "fim_suffix",
            gguf.Keys.Tokenizer.FIM_MID_ID: "fim_middle",
            gguf.Keys.Tokenizer.FIM_PAD_ID: "fim_pad",
            gguf.Keys.Tokenizer.FIM_REP_ID: "repo_name",
            gguf.Keys.Tokenizer.FIM_SEP_ID: "file_sep",
        }
        for key, name in fim_keys.items():
            if name in vocab.ids:
                writer.add_uint32(key, vocab.ids[name])
        writer.add_chat_template(CHAT_TEMPLATE)

        weights = _weights(
            vocab, n_embd=n_embd, n_layer=n_layer, n_ff=n_ff, seed=seed, eos_logit=eos_logit
        )
        for name, array in weights.items():
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the model is not secret
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def tiny_model_path(
    *, eos_logit: float | None = None, n_ctx: int = 4096, seed: int = 0, fim_tokens: bool = True
) -> Path:
    """The shared cached model for these parameters, built on first use.

    The cache key includes a hash of this file, so editing the builder rebuilds the model.
    """
    source_hash = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    eos = "none" if eos_logit is None else f"{eos_logit:g}"
    fim = "" if fim_tokens else "-nofim"
    path = CACHE_DIR / f"tiny-ctx{n_ctx}-seed{seed}-eos{eos}{fim}-{source_hash}.gguf"
    if not path.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        build_tiny_gguf(path, n_ctx=n_ctx, seed=seed, eos_logit=eos_logit, fim_tokens=fim_tokens)
        # Models from an older builder are stale; a server still using one keeps its mapping.
        for stale in CACHE_DIR.glob("tiny-*.gguf"):
            if not stale.name.endswith(f"-{source_hash}.gguf"):
                stale.unlink(missing_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-ff", type=int, default=256)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eos-logit", type=float, default=None)
    parser.add_argument("--no-fim-tokens", action="store_true")
    args = parser.parse_args(argv)
    path = build_tiny_gguf(
        args.out,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_ff=args.n_ff,
        n_ctx=args.n_ctx,
        seed=args.seed,
        eos_logit=args.eos_logit,
        fim_tokens=not args.no_fim_tokens,
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
