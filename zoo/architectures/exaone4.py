"""LG AI Research's EXAONE 4.0 (exaone4): OLMo 2's block (RMSNorms on each sublayer's output,
none on its input) with QK-norm over each head, and hybrid attention: where a sliding window
is set, the sliding layers (layer_types, else three of every `sliding_window_pattern`) rotate
q and k and the full layers have no positions at all (NoPE); with sliding_window null every
layer is full attention with rotary.

Published configs state `sliding_window_pattern` as a string ("LLLG") beside layer_types;
Exaone4Config derives layer_types only from an integer pattern (a string, or a null window,
without layer_types fails in transformers), and the reader refuses those by name.

K-EXAONE (exaone_moe) keeps that attention (and its layer types) in LLaMA's pre-norm block,
dense first layers (first_k_dense_replace or mlp_layer_types) then DeepSeek-V3's mixture:
sigmoid scores with a selection-only bias (e_score_correction_bias, stored beside the router),
expert groups, renormalised and scaled, and num_shared_experts x the expert width as one shared
MLP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    fused,
    get,
    linear,
    read_layer_types,
    same,
    with_defaults,
    write_layer_types,
)
from zoo.architectures.llama import (
    LLAMA_DEFAULTS,
    QK_NORMS,
    TENSORS,
    read_llama_like,
    write_llama_like,
)
from zoo.architectures.moe import dense_layers_first, experts, sigmoid_routed
from zoo.architectures.olmo2 import OUTPUT_NORMS
from zoo.spec import ModelSpec

# Exaone4Config's defaults for the keys read
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 102400, "intermediate_size": 16384,
            "num_key_value_heads": 32, "rms_norm_eps": 1e-5, "sliding_window": 4096,
            "sliding_window_pattern": 4}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    return _hybrid(c, read_llama_like(c, DEFAULTS, norm_position="output", qk_norm="head",
                                      qkv_bias=False, attn_out_bias=False, mlp_bias=False))


def _hybrid(c: Config, out: Config) -> Config:
    """`out` with the layer types and the rotary of EXAONE 4's hybrid attention."""
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


# ExaoneMoeConfig's defaults for the keys read beyond Exaone4Config's
MOE_DEFAULTS = {**DEFAULTS, "first_k_dense_replace": 1, "moe_intermediate_size": 1024,
                "num_experts": 64, "num_experts_per_tok": 8, "num_shared_experts": 1,
                "norm_topk_prob": True, "routed_scaling_factor": 2.5, "n_group": 1,
                "topk_group": 1}


def read_exaone_moe(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, MOE_DEFAULTS)
    out = _hybrid(c, read_llama_like(c, MOE_DEFAULTS, qk_norm="head", qkv_bias=False,
                                     attn_out_bias=False, mlp_bias=False))
    return {**out, **sigmoid_routed(c, experts="num_experts", shared="num_shared_experts",
                                     scaling="routed_scaling_factor"),
            "first_dense_layers": dense_layers_first(c, get(c, "first_k_dense_replace"))}


def write_exaone_moe(s: ModelSpec) -> Config:
    if not s.moe or s.router_scoring != "sigmoid" or not s.routing_bias \
            or s.expert_groups is None:
        raise UnsupportedConfigError("K-EXAONE routes by sigmoid scores with a selection bias "
                                     "and expert groups")
    if s.n_shared_experts and s.shared_width != s.n_shared_experts * s.expert_width:
        raise UnsupportedConfigError("K-EXAONE's shared MLP is num_shared_experts x the "
                                     "expert width")
    return {**write(s), "num_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "moe_intermediate_size": s.expert_width, "num_shared_experts": s.n_shared_experts,
            "first_k_dense_replace": s.first_dense_layers,
            "mlp_layer_types": ["sparse" if moe else "dense" for moe in s.layer_moe],
            "norm_topk_prob": s.router_normalize, "routed_scaling_factor": s.routed_scaling,
            "n_group": s.expert_groups, "topk_group": s.expert_groups_per_token}


MOE = "model.layers.{i}.mlp"
MOE_TENSORS = {**TENSORS, **QK_NORMS, **experts(MOE, "gate_proj", "up_proj", "down_proj"),
               **same("blocks.{i}.mlp.routing_bias", f"{MOE}.e_score_correction_bias"),
               **fused("blocks.{i}.mlp.shared.fc_in", (f"{MOE}.shared_experts.gate_proj",
                                                       f"{MOE}.shared_experts.up_proj"),
                       "gate_up"),
               **linear("blocks.{i}.mlp.shared.fc_out", f"{MOE}.shared_experts.down_proj")}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 125
ENTRIES = (Architecture(model_type="exaone4", hf_class="Exaone4ForCausalLM", read=read,
                        write=write, tensors=OUTPUT_NORMS, prefix="model."),
           Architecture(model_type="exaone_moe", hf_class="ExaoneMoeForCausalLM",
                        read=read_exaone_moe, write=write_exaone_moe, tensors=MOE_TENSORS,
                        prefix="model."))
