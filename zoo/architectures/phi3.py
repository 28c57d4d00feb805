"""Microsoft's Phi-3 and Phi-4 (phi3): LLaMA's computation with fused checkpoint tensors.

Phi-3 stores q, k and v as one `qkv_proj` and the gate and up projections as one `gate_up_proj`,
in zoo's own row order, so both are used as stored. A `sliding_window` shorter than the context
applies to every layer (Phi-3 mini and medium: 2047); one as long as the context changes
nothing and is not a window.

Phi-4-mini rotates three quarters of each head (partial_rotary_factor 0.75), and the 128k
models stretch their frequencies with longrope: a factor per rotated pair, a short set within
original_max_position_embeddings and a long set beyond it. Phi3Config reads a legacy
`rope_scaling` before `rope_parameters`, and takes its old names `su` and `yarn` for longrope.
A key the config leaves out takes Phi3Config's default (below).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, defaults_under, linear, norm, same
from zoo.architectures.llama import read_llama_like, write_llama_like
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"


# transformers' Phi3Config defaults, for the keys a config.json may leave out
DEFAULTS = {"vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192,
            "num_hidden_layers": 32, "num_attention_heads": 32, "hidden_act": "silu",
            "max_position_embeddings": 4096, "original_max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": False}


def read(config: Mapping[str, Any], defaults: Mapping[str, Any] = DEFAULTS) -> Config:
    """Phi3ForCausalLM's decoder (or a class of the same layers, with its own `defaults`)."""
    c = defaults_under(config, defaults)
    legacy = c.get("rope_scaling")
    if legacy:  # Phi3Config: rope_scaling, when given, is the rope parameters
        kind = legacy.get("rope_type", legacy.get("type"))
        theta = (c.get("rope_parameters") or {}).get("rope_theta", c.get("rope_theta", 10000.0))
        c["rope_parameters"] = {"rope_theta": theta, **legacy,
                                "rope_type": "longrope" if kind in ("su", "yarn") else kind}
    out = read_llama_like(c, defaults, partial_rotary=True, longrope=True, qkv_bias=False,
                          attn_out_bias=False, mlp_bias=False)
    window = c.get("sliding_window")
    if window is not None and window < out["context_length"]:
        out.update(attention_pattern=["local"], local_window=window)
    return out


def write(s: ModelSpec) -> Config:
    scaling = s.rope_scaling
    original = scaling.original_context if scaling is not None and scaling.original_context \
        else s.context_length
    return {**write_llama_like(s), "sliding_window": s.local_window if s.has_local else None,
            "partial_rotary_factor": s.rotary_fraction,
            "original_max_position_embeddings": original}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 110
ENTRIES = (Architecture(
    model_type="phi3", hf_class="Phi3ForCausalLM", read=read, write=write, prefix="model.",
    tensors={**same("embed.weight", "model.embed_tokens.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
             **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
             **linear("blocks.{i}.attn.qkv", f"{LAYER}.self_attn.qkv_proj"),
             **linear("blocks.{i}.attn.out", f"{LAYER}.self_attn.o_proj"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.gate_up_proj"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.down_proj"),
             **norm("final_norm", "model.norm"),
             **same("head.weight", "lm_head.weight")}),)
