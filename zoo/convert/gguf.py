"""GGUF files (llama.cpp's format) in: llama-architecture models, dequantized, with tokenizer.

The `gguf` package parses the file and dequantizes every tensor type to float32. GGUF lists a
shape fastest dimension first (the PyTorch shape reversed), and llama.cpp's converter permutes
the rows of q and k per head (regrouping the rotary halves for its own kernels): both are undone
here, or the logits would be wrong while the text still looked plausible.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.model import Model
from zoo.safetensors_io import WeightsError
from zoo.spec import ModelSpec, spec_from_mapping
from zoo.weights import fill


def _value(field: Any) -> Any:
    try:
        return field.contents()
    except Exception:  # older gguf versions lack contents() for some types
        return None


def read_fields(reader: Any) -> dict[str, Any]:
    return {name: _value(field) for name, field in reader.fields.items()}


def _number(value: float) -> float:
    """GGUF stores eps and theta as float32 (9.9999997e-06): back to the written figure."""
    return float(f"{value:.7g}")


def spec_from_gguf(fields: dict[str, Any], tensor_names: set[str], label: str) -> ModelSpec:
    arch = fields.get("general.architecture")
    if arch != "llama":
        raise WeightsError(f"{label}: GGUF architecture {arch!r} is not supported (zoo reads "
                           f"'llama', which covers LLaMA, Llama 2, Mistral-style and SmolLM)")

    def need(key: str) -> Any:
        value = fields.get(f"llama.{key}")
        if value is None:
            raise WeightsError(f"{label}: GGUF metadata lacks llama.{key}")
        return value

    d_model, heads = need("embedding_length"), need("attention.head_count")
    kv_heads = fields.get("llama.attention.head_count_kv") or heads
    head_dim = fields.get("llama.attention.key_length") or d_model // heads
    rotary = fields.get("llama.rope.dimension_count") or head_dim
    vocab = fields.get("llama.vocab_size") or len(fields.get("tokenizer.ggml.tokens") or [])
    data = {"name": _name(fields, label), "family": "llama", "n_layer": need("block_count"),
            "d_model": d_model, "n_head": heads, "n_kv_head": kv_heads, "d_head": head_dim,
            "d_ff": need("feed_forward_length"), "vocab_size": vocab,
            "context_length": need("context_length"), "position": "rotary",
            "rotary_fraction": rotary / head_dim,
            "rope_theta": _number(fields.get("llama.rope.freq_base") or 10000.0),
            "norm": "rmsnorm", "norm_eps": _number(need("attention.layer_norm_rms_epsilon")),
            "activation": "swiglu", "bias": False,
            "tie_embeddings": "output.weight" not in tensor_names}
    if fields.get("llama.rope.scaling.type") not in (None, "none"):
        raise WeightsError(f"{label}: rope scaling {fields['llama.rope.scaling.type']!r} is not "
                           f"supported")
    window = fields.get("llama.attention.sliding_window")
    if window:
        data.update(attention_pattern=["local"], local_window=window)
    return spec_from_mapping(data, file=label)


def _name(fields: dict[str, Any], label: str) -> str:
    base = fields.get("general.basename") or fields.get("general.name") or Path(label).stem
    size = fields.get("general.size_label")
    text = f"{base}-{size}" if size and str(size).lower() not in str(base).lower() else str(base)
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._") or "gguf-model"


def unpermute(weight: Tensor, heads: int) -> Tensor:
    """Undo llama.cpp's per-head row permutation of q or k (its `permute`, inverted)."""
    rows = weight.shape[0]
    return (weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def from_gguf(path: str | os.PathLike[str], *, device: str | torch.device | None = None,
              dtype: str | torch.dtype | None = None, progress: bool | None = None) -> Model:
    """A zoo model (and its tokenizer) from a llama-architecture GGUF file."""
    try:
        from gguf import GGUFReader
        from gguf.quants import dequantize
    except ImportError:
        raise ImportError("reading GGUF needs the gguf package: pip install 'zoo[gguf]'") from None
    from zoo.convert.hf import registry_match

    path = Path(path)
    try:
        reader = GGUFReader(str(path))
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise WeightsError(f"{path}: not a readable GGUF file: {err}") from None
    fields = read_fields(reader)
    tensors = {t.name: t for t in reader.tensors}
    spec = spec_from_gguf(fields, set(tensors), str(path))
    spec = registry_match(spec) or spec

    def load(name: str) -> Tensor:
        t = tensors[name]
        array = dequantize(t.data, t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        return torch.from_numpy(array.reshape(shape).copy())

    def qkv(i: int) -> Tensor:
        q = unpermute(load(f"blk.{i}.attn_q.weight"), spec.n_head)
        k = unpermute(load(f"blk.{i}.attn_k.weight"), spec.kv_heads)
        return torch.cat([q, k, load(f"blk.{i}.attn_v.weight")], 0)

    producers: dict[str, Any] = {"embed.weight": lambda: load("token_embd.weight"),
                                 "final_norm.weight": lambda: load("output_norm.weight")}
    if not spec.tie_embeddings:
        producers["head.weight"] = lambda: load("output.weight")
    for i in range(spec.n_layer):
        b = f"blk.{i}"
        producers.update({
            f"blocks.{i}.norm1.weight": lambda b=b: load(f"{b}.attn_norm.weight"),
            f"blocks.{i}.norm2.weight": lambda b=b: load(f"{b}.ffn_norm.weight"),
            f"blocks.{i}.attn.qkv.weight": lambda i=i: qkv(i),
            f"blocks.{i}.attn.out.weight": lambda b=b: load(f"{b}.attn_output.weight"),
            f"blocks.{i}.mlp.fc_in.weight": lambda b=b: torch.cat(
                [load(f"{b}.ffn_gate.weight"), load(f"{b}.ffn_up.weight")], 0),
            f"blocks.{i}.mlp.fc_out.weight": lambda b=b: load(f"{b}.ffn_down.weight")})
    missing = [name for name in _sources(spec) if name not in tensors]
    if missing:
        raise WeightsError(f"{path}: lacks {len(missing)} tensors, e.g. {missing[:3]}")
    with torch.device("meta"):
        model = Model(spec)
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    model = fill(model, producers, shapes={n: shapes[n] for n in producers}, device=device,
                 dtype=dtype, strict=True, origin=str(path), progress=progress)
    model.source = str(path)
    from zoo.tokenizer import Tokenizer

    if fields.get("tokenizer.ggml.tokens"):
        model.tokenizer = Tokenizer.from_gguf_fields(fields)
    return model


def _sources(spec: ModelSpec) -> list[str]:
    names = ["token_embd.weight", "output_norm.weight"]
    if not spec.tie_embeddings:
        names.append("output.weight")
    for i in range(spec.n_layer):
        names += [f"blk.{i}.{part}.weight" for part in
                  ("attn_norm", "ffn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                   "ffn_gate", "ffn_up", "ffn_down")]
    return names
