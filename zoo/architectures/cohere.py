"""Cohere's Command R (cohere) and Command R7B (cohere2): parallel blocks (one LayerNorm, with
a scale and no bias, feeds attention and MLP, whose outputs join the residual together),
GPT-J's interleaved rotary pairs, SwiGLU, a tied head and logits multiplied by logit_scale.
Command R7B slides a window over three layers of four and gives its full-attention layers no
positions at all (NoPE).

A key the config leaves out takes CohereConfig's / Cohere2Config's default (below): the
class defaults are Command R's own shapes, and rope_theta is 500,000 for cohere, 10,000 for
cohere2. A head_dim the file leaves out is hidden_size / heads.
`use_qk_norm` (Command R+) normalises q and k over each head with a LayerNorm without bias,
a scale for every head and dim: zoo's `each_head` QK-norm.

Command A's MoE (cohere2_moe) is Command R7B's block with RMSNorm where rms_norm_eps is set, dense
first layers (first_k_dense_replace or mlp_layer_types: an MLP of prefix_dense_intermediate_size,
rotated even on full layers while prefix_dense_sliding_window_pattern is 1), the others a mixture
of intermediate_size-wide experts: top-k of the router's logits, then a softmax over them (the
softmax's top k renormalised) or sigmoids (renormalised with norm_topk_prob), and
num_shared_experts x that width as one shared MLP, summed with or (the class's default) averaged
with the routed experts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    defaults_under,
    fused,
    get,
    linear,
    read_layer_types,
    read_rope,
    shortest_period,
    write_layer_types,
    write_rope,
)
from zoo.architectures.llama import QK_NORMS
from zoo.architectures.llama import TENSORS as LLAMA_TENSORS
from zoo.architectures.moe import LAYER, dense_layers_first, experts
from zoo.spec import ModelSpec

# the input norm is the only one; checkpoints name it input_layernorm
TENSORS = {**{k: v for k, v in LLAMA_TENSORS.items() if not k.startswith("blocks.{i}.norm2")},
           **QK_NORMS}
# transformers' CohereConfig defaults (Cohere2Config's are the same, but for what is below)
DEFAULTS = {"vocab_size": 256000, "hidden_size": 8192, "intermediate_size": 22528,
            "logit_scale": 0.0625, "num_hidden_layers": 40, "num_attention_heads": 64,
            "hidden_act": "silu", "max_position_embeddings": 8192, "layer_norm_eps": 1e-5,
            "tie_word_embeddings": True, "attention_bias": False, "use_qk_norm": False}


def _read(config: Mapping[str, Any], theta: float) -> tuple[Config, dict[str, Any]]:
    c = defaults_under(config, {**DEFAULTS, "rope_theta": theta})
    if c["hidden_act"] != "silu":
        raise UnsupportedConfigError(f"hidden_act {c['hidden_act']!r}: zoo's gated MLP here is "
                                     f"SwiGLU (silu)")
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    bias = bool(c["attention_bias"])
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
                n_kv_head=get(c, "num_key_value_heads", default=heads),
                d_ff=get(c, "intermediate_size"), vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                rotary_style="interleaved", **read_rope(c), norm="layernorm",
                norm_bias=False, norm_eps=get(c, "layer_norm_eps"), block="parallel",
                activation="swiglu", bias=False, qkv_bias=bias, attn_out_bias=bias,
                mlp_bias=False, tie_embeddings=bool(c["tie_word_embeddings"]),
                logit_scale=float(c["logit_scale"]),
                qk_norm="each_head" if c["use_qk_norm"] else "none"), c


def read_cohere(config: Mapping[str, Any]) -> Config:
    out, c = _read(config, 500000.0)
    return {**out, "d_head": get(c, "head_dim", default=out["d_model"] // out["n_head"])}


def read_cohere2(config: Mapping[str, Any]) -> Config:
    """Command R7B: layer_types, or every `sliding_window_pattern`-th layer (4) full; the full
    layers are the ones without rotary."""
    out, c = _read(config, 10000.0)
    out["d_head"] = get(c, "head_dim", default=out["d_model"] // out["n_head"])
    layers = out["n_layer"]
    if not c.get("layer_types"):
        period = c.get("sliding_window_pattern", 4)
        c["layer_types"] = ["sliding_attention" if (i + 1) % period else "full_attention"
                            for i in range(layers)]
    pattern = read_layer_types(c, c.get("sliding_window", 4096))
    kinds = pattern.get("attention_pattern", ["global"])
    # Cohere2 has no QK-norm: its class never reads use_qk_norm
    return {**out, **pattern, "rotary_pattern": [kind == "local" for kind in kinds],
            "qk_norm": "none"}


def _write(s: ModelSpec) -> Config:
    bias = s.has_bias("qkv")
    if s.rotary_style != "interleaved" or s.has_bias("attn_out") != bias or s.has_bias("mlp"):
        raise UnsupportedConfigError("Command R rotates interleaved pairs, with one bias switch "
                                     "for the attention's projections and none in the MLP")
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "intermediate_size": s.d_ff, "max_position_embeddings": s.context_length,
            "hidden_act": "silu", "layer_norm_eps": s.norm_eps, "attention_bias": bias,
            "logit_scale": s.logit_scale, **write_rope(s, {})}


def write_cohere(s: ModelSpec) -> Config:
    return {**_write(s), "head_dim": s.head_dim, "use_qk_norm": s.qk_norm == "each_head"}


def write_cohere2(s: ModelSpec) -> Config:
    if s.qk_norm != "none":
        raise UnsupportedConfigError("Cohere2 has no QK-norm")
    return {**_write(s), "head_dim": s.head_dim, "sliding_window": s.local_window,
            "layer_types": write_layer_types(s)}


# Cohere2MoeConfig's defaults for what read_cohere2_moe reads beyond Cohere's (rope_theta
# 10,000; key/value heads: the query heads)
COHERE2_MOE = {"head_dim": 128, "num_experts_per_tok": 2, "num_experts": 8,
               "num_shared_experts": 0, "shared_expert_combination_strategy": "average",
               "expert_selection_fn": "softmax", "prefix_dense_sliding_window_pattern": 1,
               "norm_topk_prob": True, "sliding_window_pattern": 4}
SHARED_COMBINATION = {"sum": False, "average": True}


def _cohere2_moe_layers(c: Mapping[str, Any], layers: int, dense: int) -> list[str]:
    """layer_types, or as Cohere2MoeConfig lays them out: the dense first layers sliding but
    every prefix_dense_sliding_window_pattern-th, the rest but every
    sliding_window_pattern-th (counted from the first MoE layer)."""
    if c.get("layer_types"):
        return list(c["layer_types"])
    def every(period: int, n: int) -> list[str]:
        return ["sliding_attention" if (i + 1) % period else "full_attention" for i in range(n)]

    return [*every(c["prefix_dense_sliding_window_pattern"], dense),
            *every(c["sliding_window_pattern"], layers - dense)]


def read_cohere2_moe(config: Mapping[str, Any]) -> Config:
    out, c = _read(config, 10000.0)
    c = defaults_under(c, COHERE2_MOE)
    layers = out["n_layer"]
    dense = dense_layers_first(c, get(c, "first_k_dense_replace", default=0))
    types = _cohere2_moe_layers(c, layers, dense)
    pattern = read_layer_types({"layer_types": types}, config.get("sliding_window", 4096))
    force = c["prefix_dense_sliding_window_pattern"] == 1  # dense layers rotate, full or not
    rotary = [t == "sliding_attention" or (i < dense and force) for i, t in enumerate(types)]
    selection, combination = c["expert_selection_fn"], c["shared_expert_combination_strategy"]
    if selection not in ("softmax", "sigmoid"):
        raise UnsupportedConfigError(f"expert_selection_fn {selection!r}: transformers' is "
                                     f"softmax or sigmoid")
    if combination not in SHARED_COMBINATION:
        raise UnsupportedConfigError(f"shared_expert_combination_strategy {combination!r}: "
                                     f"transformers' is sum or average")
    width = get(c, "intermediate_size")
    if dense and c.get("prefix_dense_intermediate_size") is None:
        raise UnsupportedConfigError("dense layers need prefix_dense_intermediate_size")
    out.update(d_head=get(c, "head_dim", default=out["d_model"] // out["n_head"]),
               d_ff=c["prefix_dense_intermediate_size"] if dense else width, **pattern,
               rotary_pattern=shortest_period(rotary), qk_norm="none",
               n_experts=get(c, "num_experts"), experts_per_token=get(c, "num_experts_per_tok"),
               d_ff_expert=width, first_dense_layers=dense, router_scoring=selection,
               router_normalize=selection == "softmax" or bool(c["norm_topk_prob"]))
    if c.get("rms_norm_eps") is not None:
        out.update(norm="rmsnorm", norm_eps=c["rms_norm_eps"], norm_bias=True)
    if shared := get(c, "num_shared_experts"):
        out.update(n_shared_experts=shared, shared_expert_average=SHARED_COMBINATION[combination])
    return out


def write_cohere2_moe(s: ModelSpec) -> Config:
    if not s.moe or (s.n_shared_experts and s.shared_width != s.n_shared_experts * s.expert_width):
        raise UnsupportedConfigError("Command A's MoE: experts, and its shared MLP "
                                     "num_shared_experts x their width")
    dense = s.first_dense_layers
    rms = s.norm == "rmsnorm"
    return {**write_cohere2(s), "intermediate_size": s.expert_width,
            "prefix_dense_intermediate_size": s.d_ff if dense else None,
            "mlp_layer_types": ["sparse" if moe else "dense" for moe in s.layer_moe],
            "prefix_dense_sliding_window_pattern": 1 if any(
                s.layer_rotary[i] and s.layer_kinds[i] == "global" for i in range(dense)) else 2,
            "num_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "num_shared_experts": s.n_shared_experts,
            "shared_expert_combination_strategy": "average" if s.shared_expert_average
            else "sum", "expert_selection_fn": s.router_scoring,
            "norm_topk_prob": s.router_normalize, "rms_norm_eps": s.norm_eps if rms else None}


MOE = f"{LAYER}.mlp"
MOE_TENSORS = {**TENSORS, **experts(MOE, "gate_proj", "up_proj", "down_proj"),
               **fused("blocks.{i}.mlp.shared.fc_in", (f"{MOE}.shared_experts.gate_proj",
                                                       f"{MOE}.shared_experts.up_proj"), "gate_up"),
               **linear("blocks.{i}.mlp.shared.fc_out", f"{MOE}.shared_experts.down_proj")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 224
ENTRIES = (
    Architecture(model_type="cohere", hf_class="CohereForCausalLM", read=read_cohere,
                 write=write_cohere, tensors=TENSORS, prefix="model."),
    Architecture(model_type="cohere2", hf_class="Cohere2ForCausalLM", read=read_cohere2,
                 write=write_cohere2, tensors=TENSORS, prefix="model."),
    Architecture(model_type="cohere2_moe", hf_class="Cohere2MoeForCausalLM",
                 read=read_cohere2_moe, write=write_cohere2_moe, tensors=MOE_TENSORS,
                 prefix="model."),
)
