"""State-space decoders zoo builds: Mamba (mamba, MambaForCausalLM), Falcon-Mamba
(falcon_mamba: Mamba with weightless RMSNorms of the step, B and C), Mamba-2 (mamba2,
Mamba2ForCausalLM) and IBM's Bamba (bamba, BambaForCausalLM), Mamba-2 layers beside Llama's
attention, and IBM's Granite 4 hybrids (granitemoehybrid, GraniteMoeHybridForCausalLM):
Bamba's layers with Granite MoE Shared's multipliers and MLPs (experts beside an ungated shared
MLP, or the shared MLP alone when num_local_experts is 0), rotary only with
position_embedding_type "rope". NVIDIA's Nemotron-H (nemotron_h, NemotronHForCausalLM): blocks
of one RMSNorm (its weight applied in fp32) and one mixer each, on layers_block_type (or the
legacy hybrid_override_pattern): a Mamba-2 mixer, attention without positions or biases, a
squared-ReLU MLP of two matrices, or squared-ReLU experts routed by sigmoid scores with a
selection bias beside one shared MLP; the head is never tied (the class ties nothing, whatever
tie_word_embeddings says). AI21's Jamba (jamba, JambaForCausalLM): pre-norm blocks of a Mamba
mixer with weighted RMSNorms of the step, B and C (ssm_inner_norms, at rms_norm_eps) or, every
attn_layer_period layers from attn_layer_offset, attention without positions or biases; each
block then a gated SiLU MLP or, every expert_layer_period layers from expert_layer_offset,
experts of intermediate_size (softmax top-k, not renormalised).

Mamba and Falcon-Mamba are blocks of one RMSNorm and one Mamba mixer (zoo.model.ssm), no MLP,
a head tied by default. transformers' full-sequence scan ignores a cached state (its own TODO
says so): a prompt continued in several multi-token calls differs there; zoo carries the state,
and holds transformers wherever transformers is right (prompt, then one token per step).

Mamba-2 is a stack of blocks of one RMSNorm and one Mamba-2 mixer (zoo.model.ssm), no attention
and no MLP, a final norm and an untied head by default. Bamba's blocks are pre-norm, each a
Mamba-2 mixer or (on attn_layer_indices) Llama's attention with half of each head rotated, then
a gated MLP (SiLU). The counted-only readers of the other
state-space classes are in zoo.architectures.recurrent, whose Mamba-2 reader this entry takes,
adding what the mixer computes beyond the parameter count: its head_dim (num_heads x head_dim
must be the scan's width, as the class checks), SiLU, and the time-step limits, which the
class applies to prompts but not to decoding steps (so only the default (0, inf), where the
two agree, is built). residual_in_fp32 keeps transformers' residual stream in fp32 under
bf16; zoo's stays in the model's dtype (the same in fp32).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    Source,
    UnsupportedConfigError,
    counted_only,
    defaults_under,
    get,
    linear,
    norm,
    same,
    write_rope,
)
from zoo.architectures.granitemoe import SHARED as GRANITE_SHARED
from zoo.architectures.recurrent import (
    BAMBA_DEFAULTS,
    GRANITE_HYBRID_DEFAULTS,
    MAMBA2_DEFAULTS,
    MAMBA_DEFAULTS,
    NEMOTRON_H_BLOCKS,
    read_bamba,
    read_granitemoehybrid,
    read_jamba,
    read_mamba,
    read_mamba2,
    read_nemotron_h,
)
from zoo.spec import ModelSpec

BACKBONE = "backbone"
LAYER = f"{BACKBONE}.layers.{{i}}"
MIXER = f"{LAYER}.mixer"
# Mamba2Config's defaults for the keys the count does not read
DEFAULTS = {**MAMBA2_DEFAULTS, "head_dim": 64, "hidden_act": "silu",
            "time_step_limit": [0.0, math.inf]}


def _float(x: Any) -> float:
    """A float of config.json: transformers writes infinities as {"__float__": "Infinity"}."""
    return float(x["__float__"] if isinstance(x, Mapping) else x)


def _mixer_checks(c: Mapping[str, Any], out: Config, head_dim: str,
                  act: str = "hidden_act") -> Config:
    """What a Mamba-2 mixer computes beyond its count: heads of head_dim filling the scan's
    width, SiLU (the config's `act` key), the default time-step limits."""
    inner, heads = out["ssm_d_inner"], out["ssm_n_head"]
    width = get(c, head_dim)
    if width != "auto" and width * heads != inner:
        raise UnsupportedConfigError(f"{head_dim} {width} x {heads} heads is not the scan's "
                                     f"width expand x hidden_size ({inner})")
    if c[act] not in ("silu", "swish"):
        counted_only(out, f"{act} {c[act]!r}: zoo's Mamba-2 convolution (and Bamba's MLP) is "
                          f"SiLU")
    limit = tuple(_float(x) for x in c["time_step_limit"] or (0.0, math.inf))
    if limit != (0.0, math.inf):
        counted_only(out, f"time_step_limit {list(limit)}: transformers clamps the step in "
                          f"prompts but not in decoding steps; zoo builds the default (0, inf)")
    return out


def read(config: Mapping[str, Any]) -> Config:
    c = defaults_under(config, DEFAULTS)
    return _mixer_checks(c, read_mamba2(c), "head_dim")


MAMBA = {**MAMBA_DEFAULTS, "hidden_act": "silu"}


def read_mamba_built(config: Mapping[str, Any], falcon: bool = False) -> Config:
    """MambaConfig, FalconMambaConfig (mixer_rms_eps, default 1e-6, of its weightless norms)."""
    c = defaults_under(config, {**MAMBA, **({"mixer_rms_eps": 1e-6} if falcon else {})})
    out = read_mamba(c)
    if c["hidden_act"] not in ("silu", "swish"):
        counted_only(out, f"hidden_act {c['hidden_act']!r}: zoo's Mamba convolution is SiLU")
    return {**out, "ssm_inner_norm_eps": get(c, "mixer_rms_eps")} if falcon else out


def write_mamba(s: ModelSpec, falcon: bool) -> Config:
    if (s.attention_pattern != ("mamba",) or s.mlp_pattern != ("none",) or s.norm != "rmsnorm"
            or s.norm_position != "pre" or s.block != "sequential" or s.position != "none"
            or not s.final_norm or s.norm_unit_offset or s.ssm_inner_norms
            or (s.ssm_inner_norm_eps is not None) != falcon):
        raise UnsupportedConfigError("Mamba: RMSNorm and a Mamba mixer per block, no MLP"
                                     + (", weightless inner norms" if falcon else ""))
    assert s.ssm_d_inner is not None
    if s.ssm_d_inner % s.d_model:
        raise UnsupportedConfigError("Mamba's scan is expand x hidden_size wide")
    out = {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
           "expand": s.ssm_d_inner // s.d_model, "state_size": s.ssm_d_state,
           "conv_kernel": s.ssm_conv_kernel, "time_step_rank": s.ssm_dt_rank,
           "use_bias": s.ssm_proj_bias, "use_conv_bias": s.ssm_conv_bias,
           "layer_norm_epsilon": s.norm_eps, "hidden_act": "silu"}
    return {**out, "mixer_rms_eps": s.ssm_inner_norm_eps} if falcon else out


BAMBA = {**BAMBA_DEFAULTS, "mamba_d_head": "auto", "hidden_act": "silu",
         "time_step_limit": [0.0, math.inf], "z_loss_coefficient": 0.0}


def read_bamba_built(config: Mapping[str, Any]) -> Config:
    c = {**BAMBA, **config}
    out = _mixer_checks(c, read_bamba(c), "mamba_d_head")
    if c["z_loss_coefficient"]:
        counted_only(out, f"z_loss_coefficient {c['z_loss_coefficient']}: transformers adds a "
                          f"z-loss to the loss zoo computes")
    return out


def write(s: ModelSpec) -> Config:
    if (s.attention_pattern != ("mamba2",) or s.mlp_pattern != ("none",) or s.norm != "rmsnorm"
            or s.norm_position != "pre" or s.block != "sequential" or s.position != "none"
            or not s.final_norm or s.norm_unit_offset or not s.ssm_gated_norm):
        raise UnsupportedConfigError("Mamba-2: RMSNorm and a Mamba-2 mixer per block, no MLP")
    assert s.ssm_d_inner is not None and s.ssm_n_head is not None
    if s.ssm_d_inner % s.d_model or s.ssm_d_inner % s.ssm_n_head:
        raise UnsupportedConfigError("Mamba-2's scan is expand x hidden_size wide, in heads")
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "expand": s.ssm_d_inner // s.d_model, "num_heads": s.ssm_n_head,
            "head_dim": s.ssm_d_inner // s.ssm_n_head, "state_size": s.ssm_d_state,
            "n_groups": s.ssm_n_group, "conv_kernel": s.ssm_conv_kernel,
            "use_bias": s.ssm_proj_bias, "use_conv_bias": s.ssm_conv_bias,
            "layer_norm_epsilon": s.norm_eps, "hidden_act": "silu"}


def _check_hybrid(s: ModelSpec) -> None:
    """What Bamba's and Granite 4 hybrid's configs can say, beyond their block shapes: one
    attention_bias for q, k, v and o, and a scan mamba_expand (an integer) x hidden_size
    wide."""
    if s.has_bias("qkv") != s.has_bias("attn_out"):
        raise UnsupportedConfigError("attention_bias covers q, k, v and o alike")
    if s.ssm_d_inner is None or s.ssm_d_inner % s.d_model:
        raise UnsupportedConfigError(f"the scan is mamba_expand x hidden_size wide, not "
                                     f"{s.ssm_d_inner} for hidden_size {s.d_model}")


def write_bamba(s: ModelSpec) -> Config:
    kinds = s.layer_kinds
    if (set(kinds) - {"mamba2", "global"} or s.moe or "none" in s.mlp_pattern
            or s.norm != "rmsnorm" or s.norm_position != "pre" or s.block != "sequential"
            or s.norm_unit_offset or s.activation != "swiglu" or s.position != "rotary"
            or s.rotary_style != "half" or s.rotary_fraction != 0.5 or not all(s.layer_rotary)
            or s.qk_norm != "none" or not s.ssm_gated_norm or s.has_bias("mlp") != s.mlp_bias):
        raise UnsupportedConfigError("Bamba: pre-norm Mamba-2 or Llama attention (half "
                                     "rotated) blocks, each with a gated SiLU MLP")
    _check_hybrid(s)
    assert s.ssm_d_inner is not None and s.ssm_n_head is not None
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "intermediate_size": s.d_ff, "num_attention_heads": s.n_head,
            "num_key_value_heads": s.kv_heads, "head_dim": s.head_dim,
            "max_position_embeddings": s.context_length, "rms_norm_eps": s.norm_eps,
            "hidden_act": "silu", **write_rope(s, {}),
            "attention_bias": s.has_bias("qkv"), "mlp_bias": s.has_bias("mlp"),
            "attn_layer_indices": [i for i, kind in enumerate(kinds) if kind == "global"],
            "mamba_expand": s.ssm_d_inner // s.d_model, "mamba_n_heads": s.ssm_n_head,
            "mamba_d_head": s.ssm_d_inner // s.ssm_n_head, "mamba_d_state": s.ssm_d_state,
            "mamba_n_groups": s.ssm_n_group, "mamba_d_conv": s.ssm_conv_kernel,
            "mamba_proj_bias": s.ssm_proj_bias, "mamba_conv_bias": s.ssm_conv_bias}


GRANITE = {**GRANITE_HYBRID_DEFAULTS, "mamba_d_head": "auto", "hidden_act": "silu",
           "time_step_limit": [0.0, math.inf], "embedding_multiplier": 1.0,
           "logits_scaling": 1.0, "residual_multiplier": 1.0, "attention_multiplier": 1.0}


def read_granite_hybrid(config: Mapping[str, Any]) -> Config:
    c = {**GRANITE, **config}
    out = _mixer_checks(c, read_granitemoehybrid(c), "mamba_d_head")
    out.update(embedding_multiplier=float(c["embedding_multiplier"]),
               residual_multiplier=float(c["residual_multiplier"]),
               attention_multiplier=float(c["attention_multiplier"]),
               logit_scale=1.0 / float(c["logits_scaling"]))
    return {**out, "router_normalize": True} if out.get("n_experts") else out


def write_granite_hybrid(s: ModelSpec) -> Config:
    kinds = s.layer_kinds
    if (set(kinds) - {"mamba2", "global"} or "none" in s.mlp_pattern or s.norm != "rmsnorm"
            or s.norm_position != "pre" or s.block != "sequential" or s.norm_unit_offset
            or s.activation != "swiglu" or s.position not in ("rotary", "none")
            or (s.position == "rotary" and (s.rotary_fraction != 1.0 or s.rotary_style != "half"
                                            or not all(s.layer_rotary)
                                            or s.rope_scaling is not None))
            or s.qk_norm != "none" or s.mlp_bias
            or not s.ssm_gated_norm or s.attention_multiplier is None):
        raise UnsupportedConfigError("Granite 4 hybrid: pre-norm Mamba-2 or attention blocks "
                                     "with Granite's multipliers and SwiGLU MLPs")
    _check_hybrid(s)
    assert s.ssm_d_inner is not None and s.ssm_n_head is not None
    out = {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
           "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
           "head_dim": s.head_dim, "max_position_embeddings": s.context_length,
           "rms_norm_eps": s.norm_eps, "hidden_act": "silu",
           "attention_bias": s.has_bias("qkv"),
           "position_embedding_type": "rope" if s.position == "rotary" else None,
           "layer_types": ["linear_attention" if k == "mamba2" else "full_attention"
                           for k in kinds],
           "embedding_multiplier": s.embedding_multiplier,
           "residual_multiplier": s.residual_multiplier,
           "attention_multiplier": s.attention_multiplier, "logits_scaling": 1.0 / s.logit_scale,
           "mamba_expand": s.ssm_d_inner // s.d_model, "mamba_n_heads": s.ssm_n_head,
           "mamba_d_head": s.ssm_d_inner // s.ssm_n_head, "mamba_d_state": s.ssm_d_state,
           "mamba_n_groups": s.ssm_n_group, "mamba_d_conv": s.ssm_conv_kernel,
           "mamba_proj_bias": s.ssm_proj_bias, "mamba_conv_bias": s.ssm_conv_bias}
    if s.position == "rotary":
        out.update(write_rope(s, {}))
    if not s.moe:
        return {**out, "num_local_experts": 0, "shared_intermediate_size": s.d_ff}
    if (s.mlp_pattern != ("moe",) or s.n_shared_experts > 1 or s.shared_expert_gate
            or s.router_scoring != "softmax" or not s.router_normalize or s.routing_bias
            or s.router_bias or s.expert_groups is not None or s.routed_scaling != 1.0
            or s.first_dense_layers):
        raise UnsupportedConfigError("Granite's experts: softmax over the top-k on every "
                                     "layer, at most one ungated shared MLP")
    return {**out, "num_local_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "intermediate_size": s.expert_width,
            "shared_intermediate_size": s.shared_width if s.n_shared_experts else 0}


NEMOTRON_H = {"mamba_hidden_act": "silu", "mlp_hidden_act": "relu2",
              "time_step_limit": [0.0, math.inf]}
# Nemotron-H's (token mixer, MLP) of a layer -> its block type
NEMOTRON_H_TYPES = {kinds: block for block, kinds in NEMOTRON_H_BLOCKS.items()}


def read_nemotron_h_built(config: Mapping[str, Any]) -> Config:
    """NemotronHConfig as built: its RMSNorms multiply by their weight in fp32 (norm_fp32_scale),
    the MLPs and experts are squared ReLU (mlp_hidden_act relu2; another stays counted only),
    the Mamba-2 mixers SiLU with the default time-step limits (mamba_dt_limit, the old name,
    read first as the class does)."""
    c = {**NEMOTRON_H, **config}
    if "mamba_dt_limit" in c:
        c["time_step_limit"] = c["mamba_dt_limit"]
    out = _mixer_checks(c, read_nemotron_h(c), "mamba_head_dim", act="mamba_hidden_act")
    if c["mlp_hidden_act"] != "relu2":
        counted_only(out, f"mlp_hidden_act {c['mlp_hidden_act']!r}: zoo builds Nemotron-H's "
                          f"squared ReLU (relu2)")
    return {**out, "activation": "relu2", "norm_fp32_scale": True}


def write_nemotron_h(s: ModelSpec) -> Config:
    blocks = [NEMOTRON_H_TYPES.get(pair) for pair in zip(s.layer_kinds, s.layer_mlp,
                                                           strict=True)]
    if (None in blocks or s.norm != "rmsnorm" or s.norm_position != "pre"
            or s.block != "sequential" or s.norm_unit_offset or not s.norm_fp32_scale
            or s.activation != "relu2" or s.position != "none" or s.qk_norm != "none"
            or s.has_bias("qkv") or s.has_bias("attn_out") or not s.ssm_gated_norm
            or s.tie_embeddings or not s.final_norm or s.head_bias):
        raise UnsupportedConfigError("Nemotron-H: pre-norm blocks of one Mamba-2 mixer, "
                                     "attention without positions or biases, a squared-ReLU "
                                     "MLP or experts each, the head untied")
    assert s.ssm_d_inner is not None and s.ssm_n_head is not None
    out = {"layers_block_type": blocks, "hidden_size": s.d_model, "vocab_size": s.vocab_size,
           "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
           "head_dim": s.head_dim, "max_position_embeddings": s.context_length,
           "intermediate_size": s.d_ff, "mlp_hidden_act": "relu2", "mlp_bias": s.has_bias("mlp"),
           "ssm_state_size": s.ssm_d_state, "mamba_num_heads": s.ssm_n_head,
           "mamba_head_dim": s.ssm_d_inner // s.ssm_n_head, "n_groups": s.ssm_n_group,
           "conv_kernel": s.ssm_conv_kernel, "use_conv_bias": s.ssm_conv_bias,
           "use_bias": s.ssm_proj_bias, "mamba_hidden_act": "silu",
           "layer_norm_epsilon": s.norm_eps, "tie_word_embeddings": False}
    if not s.moe:
        return out
    if (s.n_shared_experts != 1 or s.shared_expert_gate or s.router_scoring != "sigmoid"
            or not s.routing_bias or s.router_bias or s.has_bias("mlp") or s.first_dense_layers):
        raise UnsupportedConfigError("Nemotron-H's experts: sigmoid scores with a selection "
                                     "bias, one ungated shared MLP beside them, no biases")
    return {**out, "n_routed_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "moe_intermediate_size": s.expert_width,
            "moe_shared_expert_intermediate_size": s.shared_width,
            "norm_topk_prob": s.router_normalize, "routed_scaling_factor": s.routed_scaling,
            "n_group": s.expert_groups or 1, "topk_group": s.expert_groups_per_token or 1}


def read_jamba_built(config: Mapping[str, Any]) -> Config:
    """JambaConfig as built: hidden_act is the Mamba convolution's and the MLPs' activation;
    zoo builds SiLU (another stays counted only)."""
    c = {"hidden_act": "silu", **config}
    out = read_jamba(c)
    if c["hidden_act"] not in ("silu", "swish"):
        counted_only(out, f"hidden_act {c['hidden_act']!r}: zoo's Jamba convolution and gated "
                          f"MLPs are SiLU")
    return out


def _period_offset(flags: list[bool], what: str) -> tuple[int, int]:
    """The (period, offset) that mark exactly these layers, i % period == offset, as Jamba's
    config states them (a period past the last layer marks none)."""
    n = len(flags)
    for period in range(1, n + 2):
        for offset in range(period):
            if [i % period == offset for i in range(n)] == flags:
                return period, offset
    raise UnsupportedConfigError(f"Jamba places its {what} every period layers from an offset; "
                                 f"these layers are not so placed")


def write_jamba(s: ModelSpec) -> Config:
    kinds = s.layer_kinds
    if (set(kinds) - {"mamba", "global"} or "none" in s.layer_mlp or s.norm != "rmsnorm"
            or s.norm_position != "pre" or s.block != "sequential" or s.norm_unit_offset
            or s.norm_fp32_scale or s.activation != "swiglu" or s.position != "none"
            or s.qk_norm != "none" or s.has_bias("qkv") or s.has_bias("attn_out")
            or s.has_bias("mlp") or not s.ssm_inner_norms or not s.final_norm
            or s.head_bias or s.first_dense_layers):
        raise UnsupportedConfigError("Jamba: pre-norm Mamba (with weighted inner norms) or "
                                     "attention (no positions, no biases) blocks, each with a "
                                     "gated SiLU MLP or experts")
    assert s.ssm_d_inner is not None
    if s.ssm_d_inner % s.d_model:
        raise UnsupportedConfigError("Jamba's scan is mamba_expand x hidden_size wide")
    attn = _period_offset([k == "global" for k in kinds], "attention layers")
    out = {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model, "vocab_size": s.vocab_size,
           "intermediate_size": s.d_ff, "num_attention_heads": s.n_head,
           "num_key_value_heads": s.kv_heads, "head_dim": s.head_dim,
           "max_position_embeddings": s.context_length, "rms_norm_eps": s.norm_eps,
           "hidden_act": "silu", "tie_word_embeddings": s.tie_embeddings,
           "attn_layer_period": attn[0], "attn_layer_offset": attn[1],
           "mamba_d_state": s.ssm_d_state, "mamba_d_conv": s.ssm_conv_kernel,
           "mamba_expand": s.ssm_d_inner // s.d_model, "mamba_dt_rank": s.ssm_dt_rank,
           "mamba_conv_bias": s.ssm_conv_bias, "mamba_proj_bias": s.ssm_proj_bias}
    if not s.moe:
        return {**out, "num_experts": 1}
    if (s.n_experts < 2 or s.n_shared_experts or s.router_scoring != "softmax"
            or s.router_normalize or s.routing_bias or s.router_bias or s.expert_width != s.d_ff
            or s.routed_scaling != 1.0 or s.expert_groups is not None):
        raise UnsupportedConfigError("Jamba's experts: softmax top-k, not renormalised, of "
                                     "intermediate_size, no shared expert")
    moe = _period_offset([m == "moe" for m in s.layer_mlp], "experts")
    return {**out, "num_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "expert_layer_period": moe[0], "expert_layer_offset": moe[1]}


TENSORS = {
    **same("embed.weight", f"{BACKBONE}.embeddings.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.norm"),
    **linear("blocks.{i}.attn.in_proj", f"{MIXER}.in_proj"),
    **same("blocks.{i}.attn.conv", f"{MIXER}.conv1d.weight"),
    **same("blocks.{i}.attn.conv_bias", f"{MIXER}.conv1d.bias"),
    **same("blocks.{i}.attn.A_log", f"{MIXER}.A_log"),
    **same("blocks.{i}.attn.D", f"{MIXER}.D"),
    **same("blocks.{i}.attn.dt_bias", f"{MIXER}.dt_bias"),
    **same("blocks.{i}.attn.norm", f"{MIXER}.norm.weight"),
    **linear("blocks.{i}.attn.out_proj", f"{MIXER}.out_proj"),
    **norm("final_norm", f"{BACKBONE}.norm_f"),
    **same("head.weight", "lm_head.weight"),
}

MAMBA_TENSORS = {
    **same("embed.weight", f"{BACKBONE}.embeddings.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.norm"),
    **linear("blocks.{i}.attn.in_proj", f"{MIXER}.in_proj"),
    **same("blocks.{i}.attn.conv", f"{MIXER}.conv1d.weight"),
    **same("blocks.{i}.attn.conv_bias", f"{MIXER}.conv1d.bias"),
    **same("blocks.{i}.attn.x_proj.weight", f"{MIXER}.x_proj.weight"),
    **linear("blocks.{i}.attn.dt_proj", f"{MIXER}.dt_proj"),
    **same("blocks.{i}.attn.A_log", f"{MIXER}.A_log"),
    **same("blocks.{i}.attn.D", f"{MIXER}.D"),
    **linear("blocks.{i}.attn.out_proj", f"{MIXER}.out_proj"),
    **norm("final_norm", f"{BACKBONE}.norm_f"),
    **same("head.weight", "lm_head.weight"),
}

BLOCK = "model.layers.{i}"
BAMBA_MIXER = f"{BLOCK}.mamba"
ATTN = f"{BLOCK}.self_attn"
MLP = f"{BLOCK}.feed_forward"
MAMBA2_LAYER = {
    **linear("blocks.{i}.attn.in_proj", f"{BAMBA_MIXER}.in_proj"),
    **same("blocks.{i}.attn.conv", f"{BAMBA_MIXER}.conv1d.weight"),
    **same("blocks.{i}.attn.conv_bias", f"{BAMBA_MIXER}.conv1d.bias"),
    **same("blocks.{i}.attn.A_log", f"{BAMBA_MIXER}.A_log"),
    **same("blocks.{i}.attn.D", f"{BAMBA_MIXER}.D"),
    **same("blocks.{i}.attn.dt_bias", f"{BAMBA_MIXER}.dt_bias"),
    **same("blocks.{i}.attn.norm", f"{BAMBA_MIXER}.norm.weight"),
    **linear("blocks.{i}.attn.out_proj", f"{BAMBA_MIXER}.out_proj"),
}
BAMBA_TENSORS = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **norm("blocks.{i}.norm1", f"{BLOCK}.input_layernorm"),
    **norm("blocks.{i}.norm2", f"{BLOCK}.pre_ff_layernorm"),
    **MAMBA2_LAYER,
    "blocks.{i}.attn.qkv.weight": Source((f"{ATTN}.q_proj.weight", f"{ATTN}.k_proj.weight",
                                          f"{ATTN}.v_proj.weight"), "qkv"),
    "blocks.{i}.attn.qkv.bias": Source((f"{ATTN}.q_proj.bias", f"{ATTN}.k_proj.bias",
                                        f"{ATTN}.v_proj.bias"), "qkv"),
    **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
    "blocks.{i}.mlp.fc_in.weight": Source((f"{MLP}.gate_proj.weight", f"{MLP}.up_proj.weight"),
                                          "gate_up"),
    "blocks.{i}.mlp.fc_in.bias": Source((f"{MLP}.gate_proj.bias", f"{MLP}.up_proj.bias"),
                                        "gate_up"),
    **linear("blocks.{i}.mlp.fc_out", f"{MLP}.down_proj"),
    **norm("final_norm", "model.final_layernorm"),
    **same("head.weight", "lm_head.weight"),
}

GRANITE_TENSORS = {
    **GRANITE_SHARED, **MAMBA2_LAYER,
    # no experts: the shared MLP is the layer's MLP
    **same("blocks.{i}.mlp.fc_in.weight", f"{BLOCK}.shared_mlp.input_linear.weight"),
    **linear("blocks.{i}.mlp.fc_out", f"{BLOCK}.shared_mlp.output_linear"),
}

NEMOTRON_H_TENSORS = {
    **TENSORS,  # the embedding, norms, Mamba-2 mixers and head: Mamba-2's names
    "blocks.{i}.attn.qkv.weight": Source((f"{MIXER}.q_proj.weight", f"{MIXER}.k_proj.weight",
                                          f"{MIXER}.v_proj.weight"), "qkv"),
    **same("blocks.{i}.attn.out.weight", f"{MIXER}.o_proj.weight"),
    **linear("blocks.{i}.mlp.fc_in", f"{MIXER}.up_proj"),
    **linear("blocks.{i}.mlp.fc_out", f"{MIXER}.down_proj"),
    "blocks.{i}.mlp.router.weight": Source((f"{MIXER}.gate.weight",)),
    **same("blocks.{i}.mlp.routing_bias", f"{MIXER}.gate.e_score_correction_bias"),
    "blocks.{i}.mlp.experts.fc_in": Source((f"{MIXER}.experts.{{e}}.up_proj.weight",),
                                           "experts_stack"),
    "blocks.{i}.mlp.experts.fc_out": Source((f"{MIXER}.experts.{{e}}.down_proj.weight",),
                                            "experts_stack"),
    **same("blocks.{i}.mlp.shared.fc_in.weight", f"{MIXER}.shared_experts.up_proj.weight"),
    **same("blocks.{i}.mlp.shared.fc_out.weight", f"{MIXER}.shared_experts.down_proj.weight"),
}

JAMBA_MIXER = f"{BLOCK}.mamba"
FF = f"{BLOCK}.feed_forward"
JAMBA_TENSORS = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **norm("blocks.{i}.norm1", f"{BLOCK}.input_layernorm"),
    **norm("blocks.{i}.norm2", f"{BLOCK}.pre_ff_layernorm"),
    **linear("blocks.{i}.attn.in_proj", f"{JAMBA_MIXER}.in_proj"),
    **same("blocks.{i}.attn.conv", f"{JAMBA_MIXER}.conv1d.weight"),
    **same("blocks.{i}.attn.conv_bias", f"{JAMBA_MIXER}.conv1d.bias"),
    **same("blocks.{i}.attn.x_proj.weight", f"{JAMBA_MIXER}.x_proj.weight"),
    **same("blocks.{i}.attn.dt_norm", f"{JAMBA_MIXER}.dt_layernorm.weight"),
    **same("blocks.{i}.attn.b_norm", f"{JAMBA_MIXER}.b_layernorm.weight"),
    **same("blocks.{i}.attn.c_norm", f"{JAMBA_MIXER}.c_layernorm.weight"),
    **linear("blocks.{i}.attn.dt_proj", f"{JAMBA_MIXER}.dt_proj"),
    **same("blocks.{i}.attn.A_log", f"{JAMBA_MIXER}.A_log"),
    **same("blocks.{i}.attn.D", f"{JAMBA_MIXER}.D"),
    **linear("blocks.{i}.attn.out_proj", f"{JAMBA_MIXER}.out_proj"),
    "blocks.{i}.attn.qkv.weight": Source((f"{ATTN}.q_proj.weight", f"{ATTN}.k_proj.weight",
                                          f"{ATTN}.v_proj.weight"), "qkv"),
    **same("blocks.{i}.attn.out.weight", f"{ATTN}.o_proj.weight"),
    "blocks.{i}.mlp.fc_in.weight": Source((f"{FF}.gate_proj.weight", f"{FF}.up_proj.weight"),
                                          "gate_up"),
    **same("blocks.{i}.mlp.fc_out.weight", f"{FF}.down_proj.weight"),
    "blocks.{i}.mlp.router.weight": Source((f"{FF}.router.weight",)),
    "blocks.{i}.mlp.experts.fc_in": Source((f"{FF}.experts.{{e}}.gate_proj.weight",
                                            f"{FF}.experts.{{e}}.up_proj.weight"),
                                           "experts_gate_up"),
    "blocks.{i}.mlp.experts.fc_out": Source((f"{FF}.experts.{{e}}.down_proj.weight",),
                                            "experts_stack"),
    **norm("final_norm", "model.final_layernorm"),
    **same("head.weight", "lm_head.weight"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 155
ENTRIES = (
    Architecture(model_type="mamba", hf_class="MambaForCausalLM", read=read_mamba_built,
                 write=lambda s: write_mamba(s, falcon=False), prefix=f"{BACKBONE}.",
                 tensors=MAMBA_TENSORS,
                 renamed={f"{BACKBONE}.embeddings.weight": (f"{BACKBONE}.embedding.weight",)}),
    Architecture(model_type="falcon_mamba", hf_class="FalconMambaForCausalLM",
                 read=lambda c: read_mamba_built(c, falcon=True),
                 write=lambda s: write_mamba(s, falcon=True), prefix=f"{BACKBONE}.",
                 tensors=MAMBA_TENSORS,
                 renamed={f"{BACKBONE}.embeddings.weight": (f"{BACKBONE}.embedding.weight",)}),
    Architecture(model_type="mamba2", hf_class="Mamba2ForCausalLM", read=read, write=write,
                 prefix=f"{BACKBONE}.", tensors=TENSORS,
                 # the mamba_ssm checkpoints (state-spaces/mamba2-*) name the embedding so;
                 # transformers' load hook renames it
                 renamed={f"{BACKBONE}.embeddings.weight": (f"{BACKBONE}.embedding.weight",)}),
    Architecture(model_type="bamba", hf_class="BambaForCausalLM", read=read_bamba_built,
                 write=write_bamba, prefix="model.", tensors=BAMBA_TENSORS),
    Architecture(model_type="granitemoehybrid", hf_class="GraniteMoeHybridForCausalLM",
                 read=read_granite_hybrid, write=write_granite_hybrid, prefix="model.",
                 tensors=GRANITE_TENSORS),
    Architecture(model_type="nemotron_h", hf_class="NemotronHForCausalLM",
                 read=read_nemotron_h_built, write=write_nemotron_h, prefix=f"{BACKBONE}.",
                 tensors=NEMOTRON_H_TENSORS),
    Architecture(model_type="jamba", hf_class="JambaForCausalLM", read=read_jamba_built,
                 write=write_jamba, prefix="model.", tensors=JAMBA_TENSORS),
)
