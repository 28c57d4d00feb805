"""GGUF files (llama.cpp's format) in: dequantized, or kept quantized, with their tokenizer; and
out (`to_gguf`): F32, F16, BF16, Q8_0, Q4_0 or Q4_1, for llama.cpp.

A GGUF file is read as the Hugging Face checkpoint it was converted from: its metadata becomes
that checkpoint's config.json and its tensors appear under the Hugging Face names (the
architecture entry's GGUF layout), with llama.cpp's own changes undone on the way (the q and k
row permutation of llama models). From there the import is `from_hf`'s: the same rules, the
same checks. The `gguf` package parses the file and dequantizes every tensor type to float32;
GGUF lists a shape fastest dimension first, the PyTorch shape reversed.

With `quantize` each linear layer is packed as soon as it is read (`zoo.quantize`, through
`Packing`: the float model is never whole in memory); under int4, the
tensors stored in a 4-bit block type on an affine grid of 32 (`FOUR_BIT_GRIDS`) keep their own
grid, so their 4-bit codes are the file's, and tensors stored with more bits are packed int8
(`int4_as_stored`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zoo.architectures import (
    ARCHITECTURES,
    GGUFLayout,
    UnsupportedConfigError,
    config_from_gguf,
    entry_for,
    gguf_layout,
    spec_from_gguf,
)
from zoo.checkpoints.fill import fill_from
from zoo.checkpoints.mapping import Rules, rules, zoo_to_hf
from zoo.files import WeightsError
from zoo.files.gguf import WRITABLE, GGUFFile, check_writable
from zoo.model import Model
from zoo.model.quantize import Packing
from zoo.spec import ModelSpec, SpecError, architecture_difference
from zoo.units import check_quantization


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


def _q4_k(blocks: np.ndarray) -> np.ndarray:
    """Q4_K (144 bytes per 256 weights: fp16 d and dmin, 12 bytes of 6-bit scales and mins for
    8 groups of 32, 128 bytes of codes): w = q d sc - dmin m = (q - 8) d sc + 8 d sc - dmin m."""
    from gguf.quants import Q4_K

    d, dmin = _half(blocks, 0)[..., None], _half(blocks, 2)[..., None]
    sc, m = Q4_K.get_scale_min(blocks[..., 4:16].reshape(-1, 12))
    scale = d * sc.reshape(*blocks.shape[:-1], 8).astype(np.float32)
    low = dmin * m.reshape(*blocks.shape[:-1], 8).astype(np.float32)
    return np.stack([scale, 8 * scale - low], -1)


# GGUF block types whose weights are 4-bit codes on an affine grid per group of 32,
# w = (q - 8) * scale + zero: the bytes per block, and (scale, zero) per group of 32 from the
# blocks' bytes (rows, blocks, bytes) -> (rows, blocks, [groups per block,] 2)
FOUR_BIT_GRIDS: dict[str, tuple[int, Callable[[np.ndarray], np.ndarray]]] = {
    "Q4_0": (18, _q4_0), "Q4_1": (20, _q4_1), "Q4_K": (144, _q4_k)}


def permute(weight: Tensor, heads: int) -> Tensor:
    """llama.cpp's per-head row permutation of q or k (`unpermute` undoes it)."""
    rows = weight.shape[0]
    return (weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


# what llama.cpp's converter does to a tensor (Hugging Face -> GGUF): GGUF_TRANSFORMS' inverses
TO_GGUF: dict[str, Callable[[Tensor, ModelSpec], Tensor]] = {
    "same": lambda t, spec: t,
    "unpermute_q": lambda t, spec: permute(t, spec.n_head),
    "unpermute_k": lambda t, spec: permute(t, spec.kv_heads),
    "unit_offset": lambda t, spec: t + 1.0,
}


def _bf16(t: Tensor) -> np.ndarray:
    return t.to(torch.bfloat16).view(torch.int16).numpy()


def _blocks(kind: str) -> Callable[[Tensor], np.ndarray]:
    """llama.cpp's reference quantizer of a block type (the gguf package's numpy copy)."""
    def encode(t: Tensor) -> np.ndarray:
        from gguf.constants import GGMLQuantizationType
        from gguf.quants import quantize

        return quantize(t.float().numpy(), GGMLQuantizationType[kind])
    return encode


# how zoo encodes a CPU tensor in each type it writes (`WRITABLE` says their sizes)
ENCODERS: dict[str, Callable[[Tensor], np.ndarray]] = {
    "F32": lambda t: t.float().numpy(),
    "F16": lambda t: t.to(torch.float16).numpy(),
    "BF16": _bf16,
    "Q8_0": _blocks("Q8_0"),
    "Q4_0": _blocks("Q4_0"),
    "Q4_1": _blocks("Q4_1"),
}
DTYPE_TYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def _type_of(tensor: Tensor, wanted: str) -> str:
    """llama.cpp's converter's rule: vectors (norms) stay F32, a matrix whose rows are not
    whole blocks of a quantized type is F16."""
    if tensor.dim() < 2:
        return "F32"
    return wanted if tensor.shape[-1] % WRITABLE[wanted][2] == 0 else "F16"


def to_gguf(model: Model, path: str | os.PathLike[str], *, tensor_type: str | None = None,
            progress: bool | None = None) -> list[Path]:
    """Write `model` and its tokenizer as one GGUF file that llama.cpp loads: its metadata as
    llama.cpp's converter writes it for the architecture (`GGUFLayout.fields`, checked by
    reading it back as this very spec), each matrix in `tensor_type` (F32, F16, BF16, Q8_0,
    Q4_0 or Q4_1; default: the model's dtype), norms in F32, q and k rows permuted as
    llama.cpp keeps them. The file is written whole and renamed into place. What llama.cpp's
    layout cannot state (an architecture zoo knows no GGUF layout for, a tokenizer llama.cpp
    would split text differently with) is refused before anything is written."""
    from zoo.architectures import spec_from_config, write_config
    from zoo.checkpoints.native import stored_tensors
    from zoo.files.commit import write_gguf
    from zoo.files.gguf import TensorToWrite

    path, spec = Path(path), model.spec
    dtype = next(model.parameters()).dtype
    tensor_type = tensor_type or DTYPE_TYPES.get(dtype, "F32")
    check_writable(tensor_type)
    entry = entry_for(write_config(spec))
    layout = entry.gguf
    if layout is None:
        known = sorted({e.gguf.arch for e in ARCHITECTURES.values() if e.gguf is not None})
        raise UnsupportedConfigError(
            f"{spec.name}: zoo knows llama.cpp's GGUF layout for {', '.join(known)} models; "
            f"this one is written as {entry.model_type}")
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(f"{spec.name}: has no tokenizer, and llama.cpp loads a GGUF file only "
                         f"with its vocabulary; load the model from a checkpoint that has one")
    try:
        vocabulary = tokenizer.gguf_fields(spec.vocab_size)
    except ValueError as err:
        raise ValueError(f"{spec.name}: its tokenizer cannot be written for llama.cpp: "
                         f"{err}") from None
    where = layout.names(spec.n_layer)  # Hugging Face name -> (GGUF name, transform)
    tensors = zoo_to_hf(spec, stored_tensors(model) | {"head.weight": model.head.weight}, entry)
    missing = [name for name in tensors if name not in where]
    if missing:
        raise UnsupportedConfigError(f"{spec.name}: {missing[0]} has no place in llama.cpp's "
                                     f"{layout.arch} layout ({len(missing)} such tensors)")
    fields = {"general.architecture": layout.arch, "general.name": spec.name,
              **layout.fields(spec), **vocabulary,
              "general.file_type": WRITABLE[tensor_type][3]}
    if WRITABLE[tensor_type][2] > 1:
        fields["general.quantization_version"] = 2  # llama.cpp's block layouts, version 2
    names = [where[name][0] for name in tensors]
    try:
        back = spec_from_config(layout.config(fields, names), name=spec.name)
    except (UnsupportedConfigError, SpecError) as err:
        raise UnsupportedConfigError(f"{spec.name}: llama.cpp's {layout.arch} metadata cannot "
                                     f"state it: {err}") from None
    differs = architecture_difference(back, spec)
    if differs:
        raise UnsupportedConfigError(f"{spec.name}: llama.cpp's {layout.arch} metadata cannot "
                                     f"state it: read back, {differs}")

    def table(hf_name: str, tensor: Tensor) -> TensorToWrite:
        gguf_name, transform = where[hf_name]
        kind = _type_of(tensor, tensor_type)
        code, size, block, _ = WRITABLE[kind]
        return TensorToWrite(gguf_name, tuple(tensor.shape), code, tensor.numel() // block * size,
                             lambda: ENCODERS[kind](TO_GGUF[transform](tensor.detach().cpu(),
                                                                       spec)))

    return [write_gguf(path, fields, [table(n, t) for n, t in tensors.items()],
                       progress=progress)]


def code_bits(type_name: str) -> int:
    """Bits per weight code of a GGUF type, scales aside: Q4_K 4, IQ3_S 3, Q8_0 8, F16 16."""
    found = re.match(r"I?Q(\d)", type_name) or re.search(r"(\d+)", type_name)
    return int(found.group(1)) if found else 32


class GGUFSource:
    """A GGUF file's tensors under Hugging Face names, dequantized to float32 on read."""

    def __init__(self, file: GGUFFile, layout: GGUFLayout, spec: ModelSpec) -> None:
        self.file, self.spec = file, spec
        # HF name -> (GGUF name, transform), of the tensors the file has
        self.where = {hf: (name, transform)
                      for hf, (name, transform) in layout.names(spec.n_layer).items()
                      if name in file.tensors}
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
        grid = fields(blocks.reshape(blocks.shape[0], -1, size)).reshape(blocks.shape[0], -1, 2)
        return GGUF_TRANSFORMS[transform](torch.from_numpy(grid), self.spec)

    def bits(self, name: str) -> int:
        """Bits per weight code the file stores the tensor with (`code_bits`)."""
        return code_bits(self.file.type_name(self.where[name][0]))


def int4_as_stored(mapping: Rules, source: GGUFSource) -> tuple[dict[str, str],
                                                                 dict[str, Tensor]]:
    """How int4 keeps what the file stores, per zoo weight: int8 where a part has more than 4
    bits per code (4-bit codes would lose what the file kept: Gemma 3's Q5_0 projections cost
    its next-token agreement 20 points), and the file's own grid where every part is stored on
    one (`FOUR_BIT_GRIDS`), put together by the rule's transform, which for row-wise
    transforms (`Transform.row_wise`) moves rows exactly as it moves the weights'."""
    modes, grids = {}, {}
    for rule in mapping.rules:
        parts = [name for name in rule.hf if name in source]
        if any(source.bits(name) > 4 for name in parts):
            modes[rule.zoo] = "int8"
            continue
        found = [source.grid(name) for name in parts] if rule.transform.row_wise else []
        if found and len(found) == len(rule.hf) and all(g is not None for g in found):
            grids[rule.zoo] = rule.to_zoo(found)  # type: ignore[arg-type]
    return modes, grids


def from_gguf(path: str | os.PathLike[str], *, device: str | torch.device | None = None,
              dtype: str | torch.dtype | None = None, progress: bool | None = None,
              quantize: str | None = None) -> Model:
    """A zoo model (and its tokenizer) from a GGUF file; `quantize` ('bf16', 'int8', 'int4')
    packs its linear layers for CPU inference (`zoo.quantize`), int4 keeping the file's own
    4-bit blocks where it has them."""
    if quantize is not None:
        check_quantization(quantize)  # before the file is read
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
    packing = None  # each layer packed as it is read: the float model is never whole
    if quantize is not None:
        modes, grids = int4_as_stored(mapping, source) if quantize == "int4" else ({}, {})
        packing = Packing(model, quantize, modes=modes, grids=grids,
                          device=torch.device(device if device is not None else "cpu"))
    return fill_from(model, mapping, source, origin=path, device=device, dtype=dtype,
                     strict=True, progress=progress, tokenizer=tokenizer, packing=packing)


__all__ = ["ENCODERS", "FOUR_BIT_GRIDS", "GGUFSource", "code_bits", "from_gguf",
           "int4_as_stored", "permute", "to_gguf", "unpermute"]
