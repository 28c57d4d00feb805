"""ByteDance's Seed-OSS (seed_oss): LLaMA's computation with three bias switches of its own:
attention_bias on q, k and v (true by default), attention_out_bias on the output projection
(false by default) and mlp_bias on the gated MLP. The dropouts it declares act in training
only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, with_defaults
from zoo.architectures.llama import LLAMA_DEFAULTS, TENSORS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# SeedOssConfig's defaults for the keys read (head_dim null: hidden_size / heads)
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 155136, "hidden_size": 4096,
            "intermediate_size": 27648, "num_hidden_layers": 64, "num_attention_heads": 80,
            "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 524288,
            "attention_bias": True, "attention_out_bias": False}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    return read_llama_like(c, DEFAULTS, qkv_bias=bool(c["attention_bias"]),
                           attn_out_bias=bool(c["attention_out_bias"]))


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "attention_out_bias": s.has_bias("attn_out"), "mlp_bias": s.has_bias("mlp")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 250
ENTRIES = (Architecture(model_type="seed_oss", hf_class="SeedOssForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)
