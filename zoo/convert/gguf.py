"""GGUF files (llama.cpp's format) in: dequantized, with their tokenizer.

A GGUF file is read as the Hugging Face checkpoint it was converted from: its metadata becomes
that checkpoint's config.json and its tensors appear under the Hugging Face names (the
architecture entry's GGUF layout), with llama.cpp's own changes undone on the way (the q and k
row permutation of llama models). From there the import is `from_hf`'s: the same rules, the
same checks. The `gguf` package parses the file and dequantizes every tensor type to float32;
GGUF lists a shape fastest dimension first, the PyTorch shape reversed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from zoo.architectures import (
    GGUFLayout,
    UnsupportedConfigError,
    config_from_gguf,
    entry_for,
    gguf_layout,
    spec_from_gguf,
)
from zoo.convert.hf import fill_from
from zoo.convert.mapping import rules
from zoo.gguf_header import GGUFFile
from zoo.model import Model
from zoo.safetensors_io import WeightsError
from zoo.spec import ModelSpec, SpecError


def unpermute(weight: Tensor, heads: int) -> Tensor:
    """Undo llama.cpp's per-head row permutation of q or k (its `permute`, inverted)."""
    rows = weight.shape[0]
    return (weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


# what llama.cpp's converter did to a tensor, undone (GGUF -> Hugging Face)
GGUF_TRANSFORMS: dict[str, Callable[[Tensor, ModelSpec], Tensor]] = {
    "same": lambda t, spec: t,
    "unpermute_q": lambda t, spec: unpermute(t, spec.n_head),
    "unpermute_k": lambda t, spec: unpermute(t, spec.kv_heads),
    "unit_offset": lambda t, spec: t - 1.0,  # Gemma's norms, stored as 1 + w
}


class GGUFSource:
    """A GGUF file's tensors under Hugging Face names, dequantized to float32 on read."""

    def __init__(self, file: GGUFFile, layout: GGUFLayout, spec: ModelSpec) -> None:
        self.file, self.spec = file, spec
        self.where: dict[str, tuple[str, str]] = {}  # HF name -> (GGUF name, transform)
        for template, (hf, transform) in layout.tensors.items():
            layers = range(spec.n_layer) if "{i}" in template else [None]
            for i in layers:
                gguf_name = template.replace("{i}", str(i))
                if gguf_name in file.tensors:
                    self.where[hf.replace("{i}", str(i))] = (gguf_name, transform)
        self.unknown = [n for n in file.tensors if n not in {g for g, _ in self.where.values()}]

    def names(self) -> list[str]:
        return [*self.where, *self.unknown]

    def __contains__(self, name: object) -> bool:
        return name in self.where or name in self.unknown

    def shape(self, name: str) -> tuple[int, ...]:
        return self.file.shape(self.where[name][0] if name in self.where else name)

    def read(self, name: str, *, mmap: bool = True, out: Tensor | None = None) -> Tensor:
        gguf_name, transform = self.where[name]
        array = self.file.dequantize(gguf_name)
        return GGUF_TRANSFORMS[transform](torch.from_numpy(array), self.spec)


def from_gguf(path: str | os.PathLike[str], *, device: str | torch.device | None = None,
              dtype: str | torch.dtype | None = None, progress: bool | None = None) -> Model:
    """A zoo model (and its tokenizer) from a GGUF file."""
    path = Path(path)
    file = GGUFFile(path)
    try:
        layout = gguf_layout(file.fields)
        config = config_from_gguf(file.fields, file.tensors)
        entry = entry_for(config)
        spec = spec_from_gguf(file.fields, file.tensors, path.stem)
    except (UnsupportedConfigError, SpecError) as err:
        raise WeightsError(f"{path}: {err}") from None
    with torch.device("meta"):
        model = Model(spec)
    tokenizer = None
    if file.fields.get("tokenizer.ggml.tokens"):
        from zoo.tokenizer import Tokenizer

        try:
            tokenizer = Tokenizer.from_gguf_fields(file.fields)
        except ValueError as err:
            raise WeightsError(f"{path}: its tokenizer: {err}") from None
    return fill_from(model, rules(spec, entry, model.state_dict().keys()),
                     GGUFSource(file, layout, spec), origin=path, device=device, dtype=dtype,
                     strict=True, progress=progress, tokenizer=tokenizer)


__all__ = ["GGUFSource", "from_gguf", "unpermute"]
