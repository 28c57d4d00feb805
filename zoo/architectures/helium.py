"""Kyutai's Helium (helium): LLaMA's layer with GPT-J's interleaved rotary pairs, RMSNorms whose
weight multiplies in fp32 (before the cast back), attention_bias on q, k and v only (the output
projection never has one) and an output projection hidden_size wide, so that heads x head_dim
must equal hidden_size (transformers' forward fails otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, UnsupportedConfigError, with_defaults
from zoo.architectures.llama import LLAMA_DEFAULTS, TENSORS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# HeliumConfig's defaults for the keys read (its rope_theta: default_theta)
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 48000, "hidden_size": 2560,
            "intermediate_size": 7040, "num_hidden_layers": 24, "num_attention_heads": 20,
            "num_key_value_heads": 20, "head_dim": 128, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-8, "rope_theta": 100000.0}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    out = read_llama_like(c, DEFAULTS, rotary_style="interleaved", norm_fp32_scale=True,
                          attn_out_bias=False)
    if out["n_head"] * out["d_head"] != out["d_model"]:
        raise UnsupportedConfigError(
            f"head_dim {out['d_head']} x num_attention_heads {out['n_head']} is not "
            f"hidden_size {out['d_model']}: HeliumForCausalLM's output projection is "
            f"hidden_size wide")
    return out


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "mlp_bias": s.has_bias("mlp")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 251
ENTRIES = (Architecture(model_type="helium", hf_class="HeliumForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)
