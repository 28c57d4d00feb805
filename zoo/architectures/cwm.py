"""Meta's Code World Model (cwm): LLaMA's layer (no bias on q, k, v or the output, mlp_bias on
the gated MLP) with a sliding window on the layers `layer_types` names, by default three of
every four (the first of each four full).

A config without rope_parameters or rope_scaling takes CwmConfig's own rotary: llama3 scaling
(factor 16 over 8,192 positions) on a base of 1,000,000, whatever a bare rope_theta says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    read_layer_types,
    with_defaults,
    write_layer_types,
)
from zoo.architectures.llama import LLAMA_DEFAULTS, TENSORS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# CwmConfig's defaults for the keys read
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 128256, "hidden_size": 6144,
            "intermediate_size": 21504, "num_hidden_layers": 64, "num_attention_heads": 48,
            "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
            "rms_norm_eps": 1e-5, "rope_theta": 1_000_000.0, "sliding_window": 8192}
ROPE = {"rope_type": "llama3", "rope_theta": 1_000_000.0, "factor": 16.0,
        "high_freq_factor": 4.0, "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192}
WINDOW_PERIOD = 4  # without layer_types: layer i is full where i % 4 == 0


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    if not c.get("rope_parameters") and not c.get("rope_scaling"):
        c["rope_parameters"] = ROPE
    out = read_llama_like(c, DEFAULTS, qkv_bias=False, attn_out_bias=False)
    if not c.get("layer_types"):
        c["layer_types"] = ["sliding_attention" if i % WINDOW_PERIOD else "full_attention"
                            for i in range(out["n_layer"])]
    return {**out, **read_layer_types(c, c.get("sliding_window") or None)}


def write(s: ModelSpec) -> Config:
    window = {"sliding_window": s.local_window} if s.has_local else {}
    return {**write_llama_like(s), "mlp_bias": s.has_bias("mlp"), **window,
            "layer_types": write_layer_types(s)}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 252
ENTRIES = (Architecture(model_type="cwm", hf_class="CwmForCausalLM", read=read, write=write,
                        tensors=TENSORS, prefix="model."),)
