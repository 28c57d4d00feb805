"""Microsoft's Phi-3 and Phi-4 (phi3): LLaMA's computation with fused checkpoint tensors.

Phi-3 stores q, k and v as one `qkv_proj` and the gate and up projections as one `gate_up_proj`,
in zoo's own row order, so both are used as stored. A `sliding_window` shorter than the context
applies to every layer (Phi-3 mini and medium: 2047); one as long as the context changes
nothing and is not a window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, linear, norm, same
from zoo.architectures.llama import LLAMA_DEFAULTS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"


# Phi3Config's defaults for the keys read
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 32064, "hidden_size": 3072,
            "intermediate_size": 8192, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}


def read(c: Mapping[str, Any]) -> Config:
    out = read_llama_like(c, DEFAULTS, qkv_bias=False, attn_out_bias=False, mlp_bias=False)
    window = c.get("sliding_window")
    if window is not None and window < out["context_length"]:
        out.update(attention_pattern=["local"], local_window=window)
    return out


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "sliding_window": s.local_window if s.has_local else None,
            "original_max_position_embeddings": s.context_length}


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
