"""Inception's Jais 2 (jais2): Arcee's layer (LLaMA's with a two-matrix MLP, squared ReLU by
default) with LayerNorms (a weight and a bias, layer_norm_eps) in place of the RMSNorms, and
biases on q, k, v and the output (attention_bias) and the MLP (mlp_bias), both true by
default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.arcee import UNGATED
from zoo.architectures.base import Architecture, Config, activation_to_hf, get, with_defaults
from zoo.architectures.llama import LLAMA_DEFAULTS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# Jais2Config's defaults for the keys read (num_key_value_heads and head_dim: derived)
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 150272, "hidden_size": 3328,
            "intermediate_size": 26624, "num_attention_heads": 26,
            "max_position_embeddings": 8192, "hidden_act": "relu2", "layer_norm_eps": 1e-5,
            "attention_bias": True, "mlp_bias": True}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    return read_llama_like(c, DEFAULTS, gated=False, norm="layernorm",
                           norm_eps=get(c, "layer_norm_eps"))


def write(s: ModelSpec) -> Config:
    config = write_llama_like(s)
    del config["rms_norm_eps"]
    return {**config, "layer_norm_eps": s.norm_eps, "hidden_act": activation_to_hf(s),
            "attention_bias": s.has_bias("qkv"), "mlp_bias": s.has_bias("mlp")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 255
ENTRIES = (Architecture(model_type="jais2", hf_class="Jais2ForCausalLM", read=read, write=write,
                        tensors=UNGATED, prefix="model."),)
