"""Mistral's Ministral 3 (ministral3): Mistral's layer (no biases; a window on every layer when
sliding_window is set, none by default) with Mistral's attention temperature: after the rotary,
every layer's queries are scaled by 1 + llama_4_scaling_beta x log(1 + floor(position /
original_max_position_embeddings)), both read from rope_parameters.

A config without rope_parameters or rope_scaling takes Ministral3Config's own: YaRN (factor 16
over 16,384 positions, mscale and mscale_all_dim 1) on a base of 1,000,000 and a beta of 0.1,
whatever a bare rope_theta says. rope_parameters without a beta or an original context are
counted, not built: transformers' forward cannot run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, counted_only, with_defaults
from zoo.architectures.llama import LLAMA_DEFAULTS, TENSORS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# Ministral3Config's defaults for the keys read
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 131072, "hidden_size": 4096,
            "intermediate_size": 14336, "num_hidden_layers": 34, "num_attention_heads": 32,
            "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 262144,
            "rms_norm_eps": 1e-5, "sliding_window": None}
ROPE = {"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 16.0,
        "original_max_position_embeddings": 16384, "beta_fast": 32.0, "beta_slow": 1.0,
        "mscale_all_dim": 1.0, "mscale": 1.0, "llama_4_scaling_beta": 0.1}
BETA, ORIGINAL = "llama_4_scaling_beta", "original_max_position_embeddings"


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    if not c.get("rope_parameters") and not c.get("rope_scaling"):
        c["rope_parameters"] = ROPE
    out = read_llama_like(c, DEFAULTS, qkv_bias=False, attn_out_bias=False, mlp_bias=False)
    if c["sliding_window"] is not None:
        out.update(attention_pattern=["local"], local_window=c["sliding_window"])
    params = c.get("rope_parameters") or c.get("rope_scaling") or {}
    beta, original = params.get(BETA), params.get(ORIGINAL)
    if beta is None or original is None:
        return counted_only(out, f"rope_parameters without {BETA if beta is None else ORIGINAL}"
                                 f": Ministral3Attention scales its queries by both")
    if beta:  # a beta of 0 scales by exactly 1
        out.update(temperature_floor=int(original), temperature_scale=float(beta),
                   temperature_form="all_layers")
    return out


def write(s: ModelSpec) -> Config:
    config = write_llama_like(s)
    params = config["rope_parameters"]
    if s.temperature_tuning:
        params = {**params, BETA: s.temperature_scale, ORIGINAL: s.temperature_floor}
    else:
        params = {**params, BETA: 0.0, ORIGINAL: params.get(ORIGINAL, s.context_length)}
    config.pop("rope_scaling", None)  # the legacy spelling would not carry the beta
    return {**config, "rope_parameters": params,
            "sliding_window": s.local_window if s.has_local else None}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 253
ENTRIES = (Architecture(model_type="ministral3", hf_class="Ministral3ForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)
