"""AI2's OLMo 2 (olmo2): norms on each sublayer's output (none on its input), and QK-norm over
the whole q and k projections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, norm
from zoo.architectures.llama import (
    LLAMA_DEFAULTS,
    QK_NORMS,
    TENSORS,
    read_llama_like,
    write_llama_like,
)
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
INPUT_NORMS = ("blocks.{i}.norm1.weight", "blocks.{i}.norm2.weight")


# Olmo2Config's defaults for the keys read
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 50304, "rms_norm_eps": 1e-5}


def read(c: Mapping[str, Any]) -> Config:
    return read_llama_like(c, DEFAULTS, norm_position="output", qk_norm="projection",
                           mlp_bias=False)


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 120
ENTRIES = (Architecture(
    model_type="olmo2", hf_class="Olmo2ForCausalLM", read=read, write=write, prefix="model.",
    tensors={**{k: v for k, v in TENSORS.items() if k not in INPUT_NORMS}, **QK_NORMS,
             **norm("blocks.{i}.post_attn_norm", f"{LAYER}.post_attention_layernorm"),
             **norm("blocks.{i}.post_mlp_norm", f"{LAYER}.post_feedforward_layernorm")}),)
