"""Alibaba's Qwen2 / Qwen2.5 (qwen2: q, k, v biases, no output bias) and Qwen3 (qwen3: QK-norm
per head, a head width of its own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    GGUFLayout,
    read_layer_types,
    shortest_period,
    write_layer_types,
)
from zoo.architectures.llama import (
    ATTN,
    GGUF_TENSORS,
    LLAMA_DEFAULTS,
    QK_NORMS,
    TENSORS,
    read_gguf_as,
    read_llama_like,
    write_gguf_as,
    write_llama_like,
)
from zoo.spec import ModelSpec


def _windows(c: Mapping[str, Any]) -> Config:
    """Sliding layers only with use_sliding_window, from layer max_window_layers on."""
    window = c.get("sliding_window", 4096) if c.get("use_sliding_window") else None
    if c.get("layer_types"):
        return read_layer_types(c, window)
    if window is None:
        return {}
    first = c.get("max_window_layers", 28)
    kinds = ["local" if i >= first else "global" for i in range(c["num_hidden_layers"])]
    return {"attention_pattern": shortest_period(kinds), "local_window": window}


def _write_windows(s: ModelSpec) -> Config:
    return {"use_sliding_window": s.has_local, "sliding_window": s.local_window,
            "max_window_layers": 0, "layer_types": write_layer_types(s)}


# Qwen2Config's and Qwen3Config's defaults for the keys read (32 kv heads, not n_head)
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 151936, "intermediate_size": 22016,
            "max_position_embeddings": 32768, "num_key_value_heads": 32}


def read_qwen2(c: Mapping[str, Any]) -> Config:
    # Qwen2's attention hard-codes biases on q, k and v and none on the output
    return {**read_llama_like(c, DEFAULTS, qkv_bias=True, attn_out_bias=False, mlp_bias=False),
            **_windows(c)}


def write_qwen2(s: ModelSpec) -> Config:
    return {**write_llama_like(s), **_write_windows(s)}


def read_qwen3(c: Mapping[str, Any]) -> Config:
    return {**read_llama_like(c, DEFAULTS, d_head=c.get("head_dim", 128), qk_norm="head",
                              mlp_bias=False), **_windows(c)}


def write_qwen3(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"), **_write_windows(s)}


# llama.cpp's qwen2 (q, k, v biases) and qwen3 (a norm over each q and k head) layouts
GGUF_QWEN2 = GGUFLayout(arch="qwen2", config=read_gguf_as("qwen2", "qwen2"),
                        fields=write_gguf_as("qwen2"), tensors={
                            **GGUF_TENSORS,
                            **{f"blk.{{i}}.attn_{x}.bias": (f"{ATTN}.{x}_proj.bias", "same")
                               for x in "qkv"}})
GGUF_QWEN3 = GGUFLayout(arch="qwen3", config=read_gguf_as("qwen3", "qwen3"),
                        fields=write_gguf_as("qwen3"), tensors={
                            **GGUF_TENSORS,
                            **{f"blk.{{i}}.attn_{x}_norm.weight": (f"{ATTN}.{x}_norm.weight",
                                                                   "same") for x in "qk"}})

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 90
ENTRIES = (
    Architecture(model_type="qwen2", hf_class="Qwen2ForCausalLM", read=read_qwen2,
                 write=write_qwen2, tensors=TENSORS, prefix="model.", gguf=GGUF_QWEN2),
    Architecture(model_type="qwen3", hf_class="Qwen3ForCausalLM", read=read_qwen3,
                 write=write_qwen3, tensors={**TENSORS, **QK_NORMS}, prefix="model.",
                 gguf=GGUF_QWEN3),
)
