"""Grouped-query attention before DeepSeek-V3's routing (sigmoid scores, a selection-only bias
e_score_correction_bias, expert groups scored by their top two, the chosen weights renormalised
with norm_topk_prob and scaled by routed_scaling_factor, n_shared_experts x the expert width as
one shared MLP) in LLaMA's pre-norm block:

- OpenBMB's MiniCPM5-MoE (minicpm5_moe): q_proj holds each head's query and its sigmoid output
  gate ([q_h; gate_h] per head, as Qwen3-Next's), attention_bias on it, k, v and the output, no
  QK-norm, dense first layers (first_k_dense_replace, one by default, or mlp_layer_types),
  rotary at 5,000,000 unless the config says.
- Upstage's Solar Open (solar_open): attention_bias on q, k and v only, a mixture in every layer
  (its class has no dense MLP), rotary at 1,000,000 unless the config says; its rotary rotates
  whole heads (a partial_rotary_factor makes transformers' class fail).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    get,
    with_defaults,
)
from zoo.architectures.deepseek import GLM4_MOE
from zoo.architectures.llama import read_llama_like, write_llama_like
from zoo.architectures.moe import dense_layers_first, sigmoid_routed
from zoo.spec import ModelSpec

ROUTING = {"experts": "n_routed_experts", "shared": "n_shared_experts",
           "scaling": "routed_scaling_factor"}


def _write_routing(s: ModelSpec, name: str) -> Config:
    """The routing keys both classes share, for a spec they compute."""
    if not s.moe or s.router_scoring != "sigmoid" or not s.routing_bias \
            or s.expert_groups is None:
        raise UnsupportedConfigError(f"{name} routes by sigmoid scores with a selection bias "
                                     f"and expert groups")
    if s.n_shared_experts and s.shared_width != s.n_shared_experts * s.expert_width:
        raise UnsupportedConfigError(f"{name}'s shared MLP is n_shared_experts x the expert "
                                     f"width")
    return {**write_llama_like(s), "n_routed_experts": s.n_experts,
            "num_experts_per_tok": s.experts_per_token, "moe_intermediate_size": s.expert_width,
            "n_shared_experts": s.n_shared_experts, "norm_topk_prob": s.router_normalize,
            "routed_scaling_factor": s.routed_scaling, "n_group": s.expert_groups,
            "topk_group": s.expert_groups_per_token}


# MiniCPM5MoeConfig's defaults for the keys read (head_dim null: hidden_size / heads)
MINICPM5 = {"vocab_size": 130560, "hidden_size": 2048, "intermediate_size": 8192,
            "num_hidden_layers": 28, "num_attention_heads": 32, "num_key_value_heads": 2,
            "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 524288,
            "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "attention_bias": False,
            "moe_intermediate_size": 512, "num_experts_per_tok": 16, "n_shared_experts": 1,
            "n_routed_experts": 160, "routed_scaling_factor": 3.66, "n_group": 1,
            "topk_group": 1, "norm_topk_prob": True, "first_k_dense_replace": 1}


def read_minicpm5_moe(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, MINICPM5)
    if c.get("use_gated_attention") is False:
        raise UnsupportedConfigError("minicpm5_moe with use_gated_attention false: its class "
                                     "requires gated attention")
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    bias = bool(c["attention_bias"])
    out = read_llama_like({**c, "head_dim": c["head_dim"] or d // heads,
                           "rope_theta": get(c, "rope_theta", default=5e6)},
                          attention_output_gate=True, qkv_bias=bias, attn_out_bias=bias,
                          mlp_bias=False)
    dense = dense_layers_first(c, min(get(c, "first_k_dense_replace"), out["n_layer"]))
    return {**out, **sigmoid_routed(c, **ROUTING), "first_dense_layers": dense}


def write_minicpm5_moe(s: ModelSpec) -> Config:
    return {**_write_routing(s, "MiniCPM5-MoE"), "attention_bias": s.has_bias("qkv"),
            "first_k_dense_replace": s.first_dense_layers,
            "mlp_layer_types": ["sparse" if moe else "dense" for moe in s.layer_moe]}


# SolarOpenConfig's defaults for the keys read
SOLAR_OPEN = {"vocab_size": 196608, "hidden_size": 4096, "num_hidden_layers": 48,
              "num_attention_heads": 64, "num_key_value_heads": 8, "hidden_act": "silu",
              "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
              "tie_word_embeddings": False, "attention_bias": False,
              "moe_intermediate_size": 1280, "num_experts_per_tok": 8, "n_shared_experts": 1,
              "n_routed_experts": 128, "routed_scaling_factor": 1.0, "n_group": 1,
              "topk_group": 1, "norm_topk_prob": True, "head_dim": 128}


def read_solar_open(config: Mapping[str, Any]) -> Config:
    """Every layer a mixture: d_ff (no dense MLP to size) is the experts' width."""
    c = with_defaults(config, SOLAR_OPEN)
    out = read_llama_like({**c, "intermediate_size": get(c, "moe_intermediate_size"),
                           "rope_theta": get(c, "rope_theta", default=1e6)},
                          qkv_bias=bool(c["attention_bias"]), attn_out_bias=False,
                          mlp_bias=False)
    return {**out, **sigmoid_routed(c, **ROUTING)}


def write_solar_open(s: ModelSpec) -> Config:
    if not all(s.layer_moe):
        raise UnsupportedConfigError("Solar Open has a mixture in every layer")
    return {**_write_routing(s, "Solar Open"), "attention_bias": s.has_bias("qkv")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 144
ENTRIES = (
    Architecture(model_type="minicpm5_moe", hf_class="MiniCPM5MoeForCausalLM",
                 read=read_minicpm5_moe, write=write_minicpm5_moe, prefix="model.",
                 tensors=GLM4_MOE),
    Architecture(model_type="solar_open", hf_class="SolarOpenForCausalLM",
                 read=read_solar_open, write=write_solar_open, prefix="model.",
                 tensors=GLM4_MOE),
)
