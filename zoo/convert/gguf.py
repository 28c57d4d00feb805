"""GGUF files (llama.cpp's format) in: dequantized, or kept quantized, with their tokenizer.

A GGUF file is read as the Hugging Face checkpoint it was converted from: its metadata becomes
that checkpoint's config.json and its tensors appear under the Hugging Face names (the
architecture entry's GGUF layout), with llama.cpp's own changes undone on the way (the q and k
row permutation of llama models). From there the import is `from_hf`'s: the same rules, the
same checks. The `gguf` package parses the file and dequantizes every tensor type to float32;
GGUF lists a shape fastest dimension first, the PyTorch shape reversed.

With `quantize` the model's linear layers are then packed (`zoo.quantize`); under int4, the
tensors stored in a 4-bit block type on an affine grid of 32 (`FOUR_BIT_GRIDS`) keep their own
grid, so their 4-bit codes are the file's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
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
from zoo.convert.mapping import Rules, rules
from zoo.gguf_header import GGUFFile
from zoo.model import Model
from zoo.quantize import MODES
from zoo.quantize import quantize as pack
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


def _half(blocks: np.ndarray, at: int) -> np.ndarray:
    """The fp16 field at byte `at` of every block, as float32 (rows, blocks)."""
    return np.ascontiguousarray(blocks[..., at:at + 2]).view(np.float16)[..., 0].astype(
        np.float32)


def _q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 (18 bytes: fp16 d, 16 bytes of codes): w = (q - 8) d."""
    d = _half(blocks, 0)
    return np.stack([d, np.zeros_like(d)], -1)


def _q4_1(blocks: np.ndarray) -> np.ndarray:
    """Q4_1 (20 bytes: fp16 d, fp16 m, 16 bytes of codes): w = q d + m = (q - 8) d + m + 8 d."""
    d, m = _half(blocks, 0), _half(blocks, 2)
    return np.stack([d, m + 8 * d], -1)


# 4-bit GGUF block types of 32 weights on a grid w = (q - 8) * scale + zero: per block,
# (scale, zero) from the block's bytes (rows, blocks, bytes per block)
FOUR_BIT_GRIDS: dict[str, tuple[int, Callable[[np.ndarray], np.ndarray]]] = {
    "Q4_0": (18, _q4_0), "Q4_1": (20, _q4_1)}


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

    def grid(self, name: str) -> Tensor | None:
        """The tensor's own 4-bit grid, (rows, columns / 32, 2) scale and zero per block of 32,
        when its GGUF type has one (`FOUR_BIT_GRIDS`); else None."""
        gguf_name, transform = self.where[name]
        kind = FOUR_BIT_GRIDS.get(self.file.type_name(gguf_name))
        if kind is None or len(self.file.shape(gguf_name)) != 2:
            return None
        size, fields = kind
        blocks = self.file.blocks(gguf_name)
        grid = torch.from_numpy(fields(blocks.reshape(blocks.shape[0], -1, size)))
        return GGUF_TRANSFORMS[transform](grid, self.spec)


def own_grids(mapping: Rules, source: GGUFSource) -> dict[str, Tensor]:
    """Per zoo weight whose every part is stored on a 4-bit grid, that grid in zoo's layout:
    the parts' grids put together by the rule's transform, which for row-wise transforms
    (`Transform.row_wise`) moves rows exactly as it moves the weights'."""
    grids = {}
    for rule in mapping.rules:
        if not rule.transform.row_wise:
            continue
        parts = [source.grid(name) for name in rule.hf if name in source]
        if len(parts) == len(rule.hf) and all(p is not None for p in parts):
            grids[rule.zoo] = rule.to_zoo(parts)  # type: ignore[arg-type]
    return grids


def from_gguf(path: str | os.PathLike[str], *, device: str | torch.device | None = None,
              dtype: str | torch.dtype | None = None, progress: bool | None = None,
              quantize: str | None = None) -> Model:
    """A zoo model (and its tokenizer) from a GGUF file; `quantize` ('bf16', 'int8', 'int4')
    packs its linear layers for CPU inference (`zoo.quantize`), int4 keeping the file's own
    4-bit blocks where it has them."""
    if quantize is not None and quantize not in MODES:
        raise ValueError(f"unknown quantization {quantize!r}; expected one of "
                         f"{', '.join(MODES)}")
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
    mapping = rules(spec, entry, model.state_dict().keys())
    source = GGUFSource(file, layout, spec)
    model = fill_from(model, mapping, source, origin=path, device=device, dtype=dtype,
                      strict=True, progress=progress, tokenizer=tokenizer)
    if quantize is None:
        return model
    grids = own_grids(mapping, source) if quantize == "int4" else None
    return pack(model, quantize, grids=grids)


__all__ = ["FOUR_BIT_GRIDS", "GGUFSource", "from_gguf", "own_grids", "unpermute"]
