"""Zhipu's GLM-4.7-Flash (glm4_moe_lite): DeepSeek-V3's layer (latent attention, experts
routed by sigmoid scores with a selection-only bias, in groups, a shared expert), the first
layer dense unless mlp_layer_types says otherwise; its q and kv latents are normalised with
epsilon 1e-6 whatever rms_norm_eps (1e-5 by default) says (latent_norm_eps). Its rotary turns
partial_rotary_factor of qk_rope_head_dim, which transformers' attention cannot apply unless
it is 1: another factor is refused by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, UnsupportedConfigError, with_defaults
from zoo.architectures.deepseek import (
    LATENT,
    LATENT_EPS,
    read_deepseek_v3,
    write_deepseek_v3,
)
from zoo.architectures.moe import dense_layers_first
from zoo.spec import ModelSpec

# Glm4MoeLiteConfig's defaults for the keys read
DEFAULTS = {
    "vocab_size": 154880, "hidden_size": 2048, "intermediate_size": 10240,
    "moe_intermediate_size": 1536, "num_hidden_layers": 47, "num_attention_heads": 20,
    "num_key_value_heads": 20, "n_shared_experts": 1, "n_routed_experts": 64,
    "routed_scaling_factor": 1.8, "kv_lora_rank": 512, "q_lora_rank": 768,
    "qk_rope_head_dim": 64, "v_head_dim": 256, "qk_nope_head_dim": 192, "n_group": 1,
    "topk_group": 1, "num_experts_per_tok": 4, "norm_topk_prob": True,
    "hidden_act": "silu", "max_position_embeddings": 202752, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False, "rope_interleave": True, "attention_bias": False}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    fraction = (c.get("rope_parameters") or {}).get("partial_rotary_factor",
                                                     c.get("partial_rotary_factor", 1.0))
    if fraction != 1.0:
        raise UnsupportedConfigError(f"partial_rotary_factor {fraction}: transformers' "
                                     f"Glm4MoeLite rotates all of qk_rope_head_dim or fails")
    dense = dense_layers_first(c, 1)
    return {**read_deepseek_v3({**c, "first_k_dense_replace": dense}),
            "latent_norm_eps": LATENT_EPS}


def write(s: ModelSpec) -> Config:
    if s.latent_eps != LATENT_EPS:
        raise UnsupportedConfigError(f"the class's latent norms take epsilon {LATENT_EPS}")
    out = write_deepseek_v3(s)
    dense = out.pop("first_k_dense_replace")
    return {**out, "mlp_layer_types": ["dense"] * dense + ["sparse"] * (s.n_layer - dense)}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 274
ENTRIES = (Architecture(model_type="glm4_moe_lite", hf_class="Glm4MoeLiteForCausalLM",
                        read=read, write=write, prefix="model.", tensors=LATENT,
                        ignore=("model.layers.{n_layer}.",)),)
