"""LG AI Research's EXAONE 4.0 (exaone4): OLMo 2's block (RMSNorms on each sublayer's output,
none on its input) with QK-norm over each head, and hybrid attention: where a sliding window
is set, the sliding layers (layer_types, else three of every `sliding_window_pattern`) rotate
q and k and the full layers have no positions at all (NoPE); with sliding_window null every
layer is full attention with rotary.

Published configs state `sliding_window_pattern` as a string ("LLLG") beside layer_types;
Exaone4Config derives layer_types only from an integer pattern (a string, or a null window,
without layer_types fails in transformers), and the reader refuses those by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    get,
    read_layer_types,
    with_defaults,
    write_layer_types,
)
from zoo.architectures.llama import LLAMA_DEFAULTS, read_llama_like, write_llama_like
from zoo.architectures.olmo2 import OUTPUT_NORMS
from zoo.spec import ModelSpec

# Exaone4Config's defaults for the keys read
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 102400, "intermediate_size": 16384,
            "num_key_value_heads": 32, "rms_norm_eps": 1e-5, "sliding_window": 4096,
            "sliding_window_pattern": 4}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    out = read_llama_like(c, DEFAULTS, norm_position="output", qk_norm="head", qkv_bias=False,
                          attn_out_bias=False, mlp_bias=False)
    window = c.get("sliding_window")
    if not c.get("layer_types"):
        pattern = c.get("sliding_window_pattern")
        if window is None or not isinstance(pattern, int) or pattern < 1:
            raise UnsupportedConfigError(
                f"sliding_window {window!r} with sliding_window_pattern {pattern!r} and no "
                f"layer_types: Exaone4Config derives layer types only from a window and an "
                f"integer pattern")
        c["layer_types"] = ["sliding_attention" if (i + 1) % pattern else "full_attention"
                            for i in range(get(c, "num_hidden_layers"))]
    if window is None:  # every layer full, with rotary
        return out
    kinds = read_layer_types(c, window)
    rotary = [kind == "local" for kind in kinds.get("attention_pattern", ["global"])]
    return {**out, **kinds, "rotary_pattern": rotary}


def write(s: ModelSpec) -> Config:
    nope = [kind == "local" for kind in s.layer_kinds]
    if s.has_local and list(s.layer_rotary) != nope:
        raise UnsupportedConfigError("EXAONE 4's sliding layers rotate and its full layers "
                                     "have no positions")
    if not s.has_local and not all(s.layer_rotary):
        raise UnsupportedConfigError("EXAONE 4 without sliding layers rotates every layer")
    if s.has_bias("qkv") or s.has_bias("attn_out") or s.has_bias("mlp"):
        raise UnsupportedConfigError("EXAONE 4 has no biases")
    return {**write_llama_like(s), "sliding_window": s.local_window if s.has_local else None,
            "layer_types": write_layer_types(s)}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 125
ENTRIES = (Architecture(model_type="exaone4", hf_class="Exaone4ForCausalLM", read=read,
                        write=write, tensors=OUTPUT_NORMS, prefix="model."),)
