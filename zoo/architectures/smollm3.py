"""Hugging Face's SmolLM3 (smollm3): LLaMA with no rotary on every fourth layer (NoPE)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    read_layer_types,
    shortest_period,
    write_layer_types,
)
from zoo.architectures.llama import LLAMA_DEFAULTS, TENSORS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# SmolLM3Config's defaults for the keys read
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 128256, "hidden_size": 2048,
            "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 4,
            "max_position_embeddings": 32768, "tie_word_embeddings": True}


def read(c: Mapping[str, Any]) -> Config:
    layers = c.get("num_hidden_layers", DEFAULTS["num_hidden_layers"])
    interval = c.get("no_rope_layer_interval", 4)
    rotary = c.get("no_rope_layers") or [int((i + 1) % interval != 0) for i in range(layers)]
    out = read_llama_like(c, DEFAULTS, rotary_pattern=shortest_period([bool(r) for r in rotary]))
    window = c.get("sliding_window") if c.get("use_sliding_window") else None
    if c.get("layer_types"):
        out.update(read_layer_types(c, window))
    elif window is not None:  # sliding only where there is no rotary
        kinds = ["global" if r else "local" for r in rotary]
        out.update(attention_pattern=shortest_period(kinds), local_window=window)
    return out


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "mlp_bias": s.has_bias("mlp"), "no_rope_layers": [int(r) for r in s.layer_rotary],
            "use_sliding_window": s.has_local, "sliding_window": s.local_window,
            "layer_types": write_layer_types(s)}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 130
ENTRIES = (Architecture(model_type="smollm3", hf_class="SmolLM3ForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)
