"""What a GGUF model file says about itself, read from its header without loading the model.

A GGUF file starts with key-value metadata (architecture, context length, the tokenizer's
vocabulary, …) before gigabytes of weights. `lsp-assist doctor` reads just that part to tell
whether the embedded engine's model can fill in the middle and how much context it was trained
on, instead of starting a multi-gigabyte model to ask it. The file is memory-mapped, so only the
pages of the header are ever read.

The layout (GGUF v2 and v3; v1 is older than any llama.cpp that still runs):

    "GGUF"  version:u32  tensor_count:u64  kv_count:u64  (key:string  type:u32  value)*

A string is a u64 byte length and UTF-8 bytes; an array is an element type, a u64 count and the
elements. Files are little-endian unless written for a big-endian machine (then the version reads
byte-swapped). The `gguf` package reads this too, but it is a test dependency only: the few keys
the doctor needs do not justify it (and its numpy) for every user.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"GGUF"
STRING = 8
ARRAY = 9
SCALARS: dict[int, str] = {
    0: "B",  # uint8
    1: "b",  # int8
    2: "H",  # uint16
    3: "h",  # int16
    4: "I",  # uint32
    5: "i",  # int32
    6: "f",  # float32
    7: "?",  # bool
    10: "Q",  # uint64
    11: "q",  # int64
    12: "d",  # float64
}
TOKENS_KEY = "tokenizer.ggml.tokens"
FIM_PREFIX_KEY = "tokenizer.ggml.fim_pre_token_id"


class GgufError(ValueError):
    """The file is not a GGUF model we can read (its message says why)."""


@dataclass(frozen=True)
class GgufModel:
    """The facts about a model file the doctor reports."""

    architecture: str
    name: str
    """`general.name`, as the model's converter wrote it ("" when absent)."""
    context_length: int | None
    """`<architecture>.context_length`: the context the model was trained on."""
    tokens: frozenset[str]
    """The vocabulary's token texts (to look for FIM tokens, as the server does)."""
    fim_prefix_token: str
    """The token `tokenizer.ggml.fim_pre_token_id` names ("" when the key is absent)."""


def read_model(path: Path) -> GgufModel:
    """The model facts of the GGUF file at `path` (raises `GgufError` or `OSError`)."""
    metadata = read_metadata(path, arrays={TOKENS_KEY})
    architecture = str(metadata.get("general.architecture", ""))
    tokens = metadata.get(TOKENS_KEY)
    token_list = [t for t in tokens if isinstance(t, str)] if isinstance(tokens, list) else []
    context = metadata.get(f"{architecture}.context_length")
    fim_id = metadata.get(FIM_PREFIX_KEY)
    fim_prefix = ""
    if isinstance(fim_id, int) and 0 <= fim_id < len(token_list):
        fim_prefix = token_list[fim_id]
    return GgufModel(
        architecture=architecture,
        name=str(metadata.get("general.name", "")),
        context_length=int(context) if isinstance(context, (int, float)) and context else None,
        tokens=frozenset(token_list),
        fim_prefix_token=fim_prefix,
    )


def read_metadata(path: Path, *, arrays: Container[str] = ()) -> dict[str, Any]:
    """Every scalar and string of the header, and the arrays named in `arrays` (others are
    skipped: a vocabulary's merges alone are hundreds of thousands of strings)."""
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        if size < 24:
            raise GgufError(f"{size} bytes: too short for a GGUF header")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _Reader(data, size).metadata(arrays)


class _Reader:
    def __init__(self, data: mmap.mmap, size: int) -> None:
        self.data = data
        self.size = size
        self.at = 0
        self.order = "<"

    def metadata(self, arrays: Container[str]) -> dict[str, Any]:
        if self.data[:4] != MAGIC:
            raise GgufError("not a GGUF file (it does not start with 'GGUF')")
        (version,) = struct.unpack_from("<I", self.data, 4)
        if version not in (2, 3) and struct.unpack_from(">I", self.data, 4)[0] in (2, 3):
            self.order = ">"
            version = struct.unpack_from(">I", self.data, 4)[0]
        if version not in (2, 3):
            raise GgufError(f"GGUF version {version}, which llama.cpp cannot load")
        self.at = 8
        self._scalar("Q")  # tensor count
        count = self._scalar("Q")
        values: dict[str, Any] = {}
        for _ in range(count):
            key = self._string()
            kind = self._scalar("I")
            if kind == ARRAY and key not in arrays:
                self._skip_array()
            else:
                values[key] = self._value(kind)
        return values

    def _need(self, n: int) -> None:
        if n < 0 or self.at + n > self.size:
            raise GgufError("the header runs past the end of the file (truncated or damaged)")

    def _scalar(self, code: str) -> Any:
        fmt = self.order + code
        width = struct.calcsize(fmt)
        self._need(width)
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += width
        return value

    def _string(self) -> str:
        length = self._scalar("Q")
        self._need(length)
        raw = self.data[self.at : self.at + length]
        self.at += length
        return raw.decode("utf-8", errors="replace")

    def _value(self, kind: int) -> Any:
        if kind == STRING:
            return self._string()
        if kind == ARRAY:
            item_kind = self._scalar("I")
            count = self._scalar("Q")
            if item_kind in SCALARS:
                width = struct.calcsize(self.order + SCALARS[item_kind])
                self._need(count * width)
                items = struct.unpack_from(
                    f"{self.order}{count}{SCALARS[item_kind]}", self.data, self.at
                )
                self.at += count * width
                return list(items)
            self._need(count * 8)  # each element is at least a length
            return [self._value(item_kind) for _ in range(count)]
        if kind in SCALARS:
            return self._scalar(SCALARS[kind])
        raise GgufError(f"unknown value type {kind} in the header")

    def _skip_array(self) -> None:
        item_kind = self._scalar("I")
        count = self._scalar("Q")
        if item_kind in SCALARS:
            width = struct.calcsize(self.order + SCALARS[item_kind])
            self._need(count * width)
            self.at += count * width
        elif item_kind == STRING:
            self._need(count * 8)
            for _ in range(count):
                length = self._scalar("Q")
                self._need(length)
                self.at += length
        else:  # arrays of arrays: rare, walk them
            self._need(count * 8)
            for _ in range(count):
                self._value(item_kind)
