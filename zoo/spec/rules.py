"""Cross-field rules: what no real architecture can be. Each field is checked on its own by its
declaration (`zoo.fields`); these rules see the whole spec, and name the field to fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from zoo.fields import suggest
from zoo.spec.vocabulary import COMPRESSED_KINDS, COUNTED_KINDS, RopeScaling, SpecError

# the rules read a ModelSpec, which is declared above them (zoo.spec.model calls them), so
# they name it only in words: importing it here, even for type checkers, would be a cycle
Spec = Any


def check_consistency(spec: Spec) -> None:
    """Cross-field rules: what no real architecture can be."""

    def bad(field_name: str, message: str) -> SpecError:
        return SpecError(message, field=field_name)

    if spec.d_head is None and spec.d_model % spec.n_head:
        raise bad("d_head", f"d_model {spec.d_model} is not divisible by n_head {spec.n_head}; "
                            "state d_head explicitly")
    if spec.n_head % spec.kv_heads:
        raise bad("n_kv_head", f"n_head {spec.n_head} is not divisible by n_kv_head "
                               f"{spec.kv_heads}")
    # an odd count is counted (no parameter depends on it), not built
    if spec.position == "rotary" and (spec.rotary_dim < 2
                                      or (spec.rotary_dim % 2 and not spec.counted_only)):
        raise bad("rotary_fraction", f"rotary_fraction {spec.rotary_fraction} of head_dim "
                                     f"{spec.head_dim} gives {spec.rotary_dim} rotated dims; "
                                     "expected an even number >= 2")
    if spec.position not in ("learned", "sinusoidal") and spec.position_offset:
        raise bad("position_offset", "only learned and sinusoidal positions take an offset")
    if "local" in spec.attention_pattern and spec.local_window is None:
        raise bad("local_window", "attention_pattern has local layers but no local_window")
    if spec.has_chunked != (spec.attention_chunk is not None):
        raise bad("attention_chunk", "chunked layers in attention_pattern and attention_chunk "
                                     "go together")
    if (spec.temperature_floor is None) != (spec.temperature_scale is None):
        raise bad("temperature_floor", "temperature tuning needs temperature_floor and "
                                       "temperature_scale")
    _check_linear(spec, bad)
    _check_ssm(spec, bad)
    if spec.block != "sequential" and spec.norm_position != "pre":
        raise bad("block", f"a parallel block has no {spec.norm_position}-norm form; use "
                           f"norm_position: pre")
    if spec.norm != "rmsnorm" and (spec.norm_unit_offset or spec.norm_fp32_scale
                                   or spec.qk_norm in ("head", "projection")):
        raise bad("norm_unit_offset" if spec.norm_unit_offset else
                  "norm_fp32_scale" if spec.norm_fp32_scale else "qk_norm",
                  "the (1 + w) scale and these QK-norms are RMSNorm's; set norm: rmsnorm")
    if spec.qk_norm == "head_layernorm" and (spec.norm != "layernorm" or not spec.norm_bias):
        raise bad("qk_norm", "head_layernorm is Persimmon's LayerNorm with bias; set norm: "
                             "layernorm")
    _check_shared_blocks(spec, bad)
    _check_loops(spec, bad)
    _check_inkling(spec, bad)
    _check_not_built(spec, bad)
    if spec.qk_norm == "each_head" and (spec.norm != "layernorm" or spec.norm_bias):
        raise bad("qk_norm", "each_head is Command R+'s LayerNorm without bias; set norm: "
                             "layernorm and norm_bias: false")
    if not spec.norm_bias and spec.norm != "layernorm":
        raise bad("norm_bias", "only LayerNorm has a bias to leave out; set norm: layernorm")
    if not spec.rotary:
        for name in ("rope_scaling", "local_rope_theta"):
            if getattr(spec, name) is not None:
                raise bad(name, "only rotary positions take it")
    if spec.local_rope_theta is not None and not spec.has_local:
        raise bad("local_rope_theta", "there are no local layers to take it")
    if spec.qkv_clip is not None and spec.latent:
        raise bad("qkv_clip", "latent attention has no q/k/v projection to clip")
    _check_gemma4(spec, bad)
    _check_rope_scaling(spec.rope_scaling, bad)
    scaling = spec.rope_scaling
    if scaling is not None and scaling.type == "longrope" and spec.rotary:
        for name in ("short_factor", "long_factor"):
            factors = getattr(scaling, name)
            if factors is not None and len(factors) != spec.rotary_dim // 2:
                raise bad("rope_scaling", f"longrope's {name} has {len(factors)} values; "
                                          f"expected one per rotated pair, "
                                          f"{spec.rotary_dim // 2}")
    _check_experts(spec, bad)
    _check_latent(spec, bad)
    if spec.embed_dim is not None and spec.embed_dim == spec.d_model:
        raise bad("embed_dim", "embed_dim equal to d_model means no projection; leave it out")
    known = [f.name for f in fields(spec)]
    for name in spec.unpublished:
        if name not in known:
            raise bad("unpublished", f"{name!r} is not a field{suggest(name, known)}")
    for alias in spec.aliases:
        if alias == spec.name:
            raise bad("aliases", f"alias {alias!r} repeats the model's own name")


# switches the closed form counts but zoo's decoder does not compute: a spec with one says
# why it is not built (counted_only), which the decoder refuses by
NOT_BUILT: dict[str, Callable[[Spec], bool]] = {
    # built on the dense MLP (Apertus's); not on experts
    "activation": lambda s: s.activation == "xielu" and s.moe,
    # built on plain attention (DiffLlama's), not on Gemma 4's per-layer one
    "differential_attention": lambda s: s.differential_attention and (
        s.value_norm or s.global_d_head is not None or s.global_kv_heads is not None
        or s.global_values_from_keys or s.kv_shared_layers > 0),
    "sub_norms": lambda s: s.sub_norms,
    # built on the plain attention of every layer (GPT-NeoX Japanese's)
    "last_attn_out_bias": lambda s: s.last_attn_out_bias and (
        s.latent or s.attention_pattern != ("global",) or s.kv_shared_layers > 0),
    "local_sinks": lambda s: s.local_sinks,
    "attention_head_gate": lambda s: s.attention_head_gate,
    "global_n_head": lambda s: s.global_n_head is not None,
    "global_kv_lora_rank": lambda s: s.global_kv_lora_rank is not None,
    "rope_key_norm": lambda s: s.rope_key_norm,
    "kda_full_rank_gates": lambda s: s.kda_full_rank_gates,
    "attention_gate_bias": lambda s: s.attention_gate_bias,
    "expert_output_norms": lambda s: s.expert_output_norms,
    "attention_experts": lambda s: s.attention_experts,
    "dynamic_mask": lambda s: s.dynamic_mask,
    "residual_scales": lambda s: s.residual_scales,
    "d_head_v": lambda s: s.d_head_v is not None and not s.latent,
    "router_scoring": lambda s: s.router_scoring == "sqrtsoftplus",
    "hyper_connections": lambda s: s.hyper_connections is not None,
    "attention_output_gate": lambda s: s.attention_output_gate and s.latent,
    "attention_sinks": lambda s: s.attention_sinks and s.latent,
    "indexer_pattern": lambda s: any(s.layer_indexer_shared),
    "kv_shared_pattern": lambda s: any(s.kv_shared_pattern),
    "zero_experts": lambda s: s.zero_experts > 0,
    "dense_mlp_with_experts": lambda s: s.dense_mlp_with_experts and s.norm_position == "pre",
    "shared_blocks": lambda s: s.shared_blocks is not None,
    "altup_streams": lambda s: s.altup_streams is not None,
    "laurel_rank": lambda s: s.laurel_rank is not None,
    "norm": lambda s: s.norm == "l2",
    "layer_runs": lambda s: s.layer_runs != (1,),
    "initial_state": lambda s: s.initial_state,
    "ngpt_scales": lambda s: s.ngpt_scales,
    "q_up_raw_latent": lambda s: s.q_up_raw_latent,
    "gated_norm_rank": lambda s: s.gated_norm_rank is not None,
    "moe_output_norm": lambda s: s.moe_output_norm,
    "residual_affine": lambda s: s.residual_affine,
    "cca_depthwise_kernel": lambda s: s.cca,
    "router_mlp_width": lambda s: s.router_mlp_width is not None,
    "target_width": lambda s: s.target_width is not None,
    "head_centroids": lambda s: s.head_centroids is not None,
    "qk_norm": lambda s: s.qk_norm == "scaled_clip",
    "sink_projection": lambda s: s.sink_projection,
    "relative_bias_rank": lambda s: s.relative_bias_rank is not None,
    "kv_conv_kernel": lambda s: s.kv_conv_kernel is not None,
    "sublayer_conv_kernel": lambda s: s.sublayer_conv_kernel is not None,
    "block_attention_residuals": lambda s: s.block_attention_residuals,
    "loop_gate_rank": lambda s: s.loop_gate_rank is not None,
    "router_scores_shared": lambda s: s.router_scores_shared,
    "scalar_gains": lambda s: s.scalar_gains,
    "head_transform": lambda s: s.head_transform != "none",
    "first_attn_norm": lambda s: not s.first_attn_norm,
    "segment_types": lambda s: s.segment_types is not None,
    "relative_bias_buckets": lambda s: s.relative_bias_buckets is not None,
    "cached_prefix": lambda s: s.cached_prefix > 0,
    "ssm_parallel": lambda s: s.ssm_parallel,
    "ssm_gated_norm": lambda s: s.has_ssm and not s.ssm_gated_norm,
}


def _check_not_built(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    for name, used in NOT_BUILT.items():
        if used(spec) and not spec.counted_only:
            raise bad(name, f"{name} {getattr(spec, name)!r} is counted, not built: say why in "
                            f"counted_only")
    if spec.sub_norms and spec.moe:
        raise bad("sub_norms", "the sub-norms are BitNet's, on a dense MLP: not with experts")
    if spec.last_attn_out_bias and spec.has_bias("attn_out"):
        raise bad("last_attn_out_bias", "every layer's attention output has a bias already")
    if spec.local_sinks and (spec.attention_sinks or not spec.has_local):
        raise bad("local_sinks", "local_sinks needs local layers, and no attention_sinks on "
                                 "every layer")
    if spec.d_head_v is not None and not spec.latent and spec.global_values_from_keys:
        raise bad("d_head_v", "values taken from the keys are as wide as the keys")
    if spec.attention_head_gate and spec.attention_output_gate:
        raise bad("attention_head_gate", "a gate per head is not with a gate per query dim")
    if spec.attention_gate_bias and not spec.attention_output_gate:
        raise bad("attention_gate_bias", "a gate bias needs the output gate: set "
                                         "attention_output_gate")
    if spec.attention_experts and (
            not spec.moe or spec.latent or spec.n_head != spec.kv_heads * spec.experts_per_token):
        raise bad("attention_experts", "a mixture of attention heads takes n_experts, no latent "
                                       "attention, and n_head = n_kv_head x experts_per_token")
    if spec.dynamic_mask and spec.latent:
        raise bad("dynamic_mask", "latent attention has no value projection to take it from")
    if spec.differential_attention and spec.latent:
        raise bad("differential_attention", "latent attention is not differential")
    if spec.differential_attention and spec.kv_heads % 2:
        raise bad("differential_attention", f"differential attention splits the value heads in "
                                            f"two: n_kv_head {spec.kv_heads} is odd")
    if spec.q_up_raw_latent and not (spec.latent and spec.q_lora_rank):
        raise bad("q_up_raw_latent", "the query up-projection reads the query latent: set "
                                     "kv_lora_rank and q_lora_rank")
    if spec.moe_output_norm and not spec.moe:
        raise bad("moe_output_norm", "only a mixture of experts takes it: set n_experts")
    if spec.gated_norm_rank is not None and (spec.norm_position != "pre"
                                             or spec.block != "sequential"):
        raise bad("gated_norm_rank", "the gated norms are A.X K2's: pre norms, a sequential "
                                     "block")
    if (spec.cca_depthwise_kernel is None) != (spec.cca_grouped_kernel is None):
        raise bad("cca_grouped_kernel", "CCA needs cca_depthwise_kernel and cca_grouped_kernel")
    if spec.cca and (spec.latent or set(spec.attention_pattern) - {"global", "local"}
                     or spec.kv_dim % 2):
        raise bad("cca_depthwise_kernel", "CCA is grouped-query attention on global and local "
                                          "layers, its values two halves of an even kv width")
    if spec.router_mlp_width is not None and not spec.moe:
        raise bad("router_mlp_width", "only a mixture of experts takes it: set n_experts")
    if spec.hyper_connection_form != "manifold" and spec.hyper_connections is None:
        raise bad("hyper_connection_form", "a hyper-connection form needs hyper_connections")


def _check_experts(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    if not spec.moe:
        for name in ("experts_per_token", "d_ff_expert", "expert_groups",
                     "expert_groups_per_token", "d_ff_shared", "router_jitter"):
            if getattr(spec, name) is not None:
                raise bad(name, "only a mixture of experts takes it: set n_experts")
        for name, default in (("n_shared_experts", 0), ("first_dense_layers", 0),
                              ("zero_experts", 0),
                              ("routing_bias_parameter", False),
                              ("shared_expert_gate", False), ("shared_expert_average", False),
                              ("router_scales_input", False),
                              ("expert_output_norms", False)):
            if getattr(spec, name) != default:
                raise bad(name, "only a mixture of experts takes it: set n_experts")
        if spec.mlp_pattern != ("moe",) and "moe" in spec.mlp_pattern:  # dense / none only
            raise bad("mlp_pattern", "only a mixture of experts takes `moe` layers: set "
                                     "n_experts")
        return
    shared_only = next((name for name, given in (
        ("d_ff_shared", spec.d_ff_shared is not None),
        ("shared_expert_gate", spec.shared_expert_gate),
        ("shared_expert_average", spec.shared_expert_average)) if given), None)
    if not spec.n_shared_experts and shared_only:
        raise bad(shared_only, "only shared experts take it: set n_shared_experts")
    if (spec.router_scoring == "sparsemixer") != (spec.router_jitter is not None):
        raise bad("router_jitter", "sparsemixer routing and its router_jitter go together")
    if spec.router_scoring == "sparsemixer" and spec.experts_per_token != 2:
        raise bad("experts_per_token", "sparsemixer routes every token to two experts")
    if spec.routing_bias_parameter and not spec.routing_bias:
        raise bad("routing_bias_parameter", "only a routing bias can be a parameter: set "
                                            "routing_bias")
    assert spec.n_experts is not None
    if spec.experts_per_token is None:
        raise bad("experts_per_token", "a mixture of experts needs experts_per_token")
    if spec.experts_per_token > spec.n_experts + spec.zero_experts:
        raise bad("experts_per_token", f"{spec.experts_per_token} experts per token, but only "
                                       f"{spec.n_experts + spec.zero_experts} experts")
    if not any(spec.layer_moe):
        raise bad("first_dense_layers" if spec.first_dense_layers else "mlp_pattern",
                  f"no layer of {spec.n_layer} is a mixture of experts")
    if (spec.expert_groups is None) != (spec.expert_groups_per_token is None):
        raise bad("expert_groups", "group-limited routing needs expert_groups and "
                                   "expert_groups_per_token")
    if spec.expert_groups is not None:
        assert spec.expert_groups_per_token is not None
        if spec.n_experts % spec.expert_groups:
            raise bad("expert_groups", f"{spec.n_experts} experts do not split into "
                                       f"{spec.expert_groups} groups")
        if spec.expert_groups_per_token > spec.expert_groups:
            raise bad("expert_groups_per_token", "more groups per token than groups")
    elif spec.expert_group_score != "top2":
        raise bad("expert_group_score", "only group-limited routing takes it: set expert_groups")
    if (spec.activation == "clamped_swiglu") != (spec.swiglu_limit is not None):
        raise bad("swiglu_limit", "clamped_swiglu and swiglu_limit go together")


LINEAR_FIELDS = ("linear_n_k_head", "linear_n_v_head", "linear_d_head_k", "linear_d_head_v",
                 "linear_conv_kernel")


def _check_linear(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    """Linear-attention geometry goes with `linear` (or `kda`) layers on the pattern, all of
    it; a kda layer has one head count and one head width."""
    kda = "kda" in spec.attention_pattern
    if not spec.has_linear and not kda:
        for name in (*LINEAR_FIELDS, "kda_full_rank_gates"):
            if getattr(spec, name) not in (None, False):
                raise bad(name, "only linear-attention layers take it: put `linear` or `kda` "
                                "in attention_pattern")
        return
    for name in LINEAR_FIELDS:
        if getattr(spec, name) is None:
            raise bad(name, "attention_pattern has linear layers, which need "
                            f"{', '.join(LINEAR_FIELDS)}")
    if kda and (spec.linear_n_v_head != spec.linear_n_k_head
                or spec.linear_d_head_v != spec.linear_d_head_k):
        raise bad("linear_n_v_head", "kda layers have as many value heads as key heads, of "
                                     "the same width")
    if spec.linear_n_v_head % spec.linear_n_k_head:
        raise bad("linear_n_v_head", f"{spec.linear_n_v_head} value heads do not share "
                                     f"{spec.linear_n_k_head} key heads evenly")
    if spec.kda_full_rank_gates and not kda:
        raise bad("kda_full_rank_gates", "only kda layers take it: put `kda` in "
                                         "attention_pattern")
    if spec.has_linear and spec.latent:  # Kimi Linear's kda layers are counted beside it
        raise bad("attention_pattern", "linear layers beside latent attention are not "
                                       "supported")


SSM_FIELDS = {"mamba": ("ssm_d_inner", "ssm_d_state", "ssm_conv_kernel", "ssm_dt_rank"),
              "mamba2": ("ssm_d_inner", "ssm_d_state", "ssm_conv_kernel", "ssm_n_head",
                         "ssm_n_group")}


def _check_ssm(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    """State-space geometry goes with `mamba` / `mamba2` layers on the pattern; the mixers and
    blocks zoo counts but does not build say so (counted_only), with pre-norm blocks whose
    norms are one per sublayer."""
    kinds = set(spec.attention_pattern) | ({"mamba2"} if spec.ssm_parallel else set())
    needed = {name for kind, names in SSM_FIELDS.items() if kind in kinds for name in names}
    for name in sorted({n for names in SSM_FIELDS.values() for n in names}):
        given = getattr(spec, name) is not None
        if given and name not in needed:
            raise bad(name, "only the state-space layers that use it take it: put `mamba` or "
                            "`mamba2` in attention_pattern")
        if not given and name in needed:
            raise bad(name, f"attention_pattern has state-space layers, which need "
                            f"{', '.join(sorted(needed))}")
    if ("short_conv" in kinds) != (spec.short_conv_kernel is not None):
        raise bad("short_conv_kernel", "short_conv layers and short_conv_kernel go together")
    for name in ("lru_width", "lru_conv_kernel"):
        if ("rglru" in kinds) != (getattr(spec, name) is not None):
            raise bad(name, "rglru layers and lru_width, lru_conv_kernel go together")
    if "rglru" in kinds and spec.lru_width % spec.n_head:
        raise bad("lru_width", f"lru_width {spec.lru_width} does not split into n_head "
                               f"{spec.n_head} blocks")
    if ("rwkv" in kinds) != (spec.rwkv_width is not None):
        raise bad("rwkv_width", "rwkv layers and rwkv_width go together")
    for name in ("mlstm_qk_dim", "mlstm_v_dim"):
        width = getattr(spec, name)
        if ("mlstm" in kinds) != (width is not None):
            raise bad(name, "mlstm layers and mlstm_qk_dim, mlstm_v_dim go together")
        if width is not None and width % spec.n_head:
            raise bad(name, f"{name} {width} does not split into n_head {spec.n_head} heads")
    if spec.short_conv_bias and "short_conv" not in kinds:
        raise bad("short_conv_bias", "only short_conv layers take it")
    if spec.ssm_inner_norms and "mamba" not in kinds:
        raise bad("ssm_inner_norms", "only `mamba` layers take it")
    if spec.ssm_inner_norm_eps is not None and ("mamba" not in kinds or spec.ssm_inner_norms):
        raise bad("ssm_inner_norm_eps", "only `mamba` layers without weighted inner norms "
                                        "take it")
    if "cross" in kinds and spec.qk_norm != "none":
        raise bad("qk_norm", "cross-attention layers carry their own q and k norms, and the "
                             "layers beside them none (Mllama)")
    if "mamba2" in kinds and spec.ssm_d_inner % spec.ssm_n_group:
        raise bad("ssm_n_group", f"ssm_d_inner {spec.ssm_d_inner} does not split into "
                                 f"{spec.ssm_n_group} groups")
    if "mamba2" in kinds and (spec.ssm_d_inner % spec.ssm_n_head
                              or spec.ssm_n_head % spec.ssm_n_group):
        raise bad("ssm_n_head", f"ssm_d_inner {spec.ssm_d_inner} does not split into "
                                f"{spec.ssm_n_head} heads in {spec.ssm_n_group} groups")
    # a block without an MLP is built as a pre-norm mixer (Mamba's), one without a token
    # mixer as a pre-norm MLP (Nemotron-H's)
    one_sublayer = spec.norm_position == "pre" and spec.block == "sequential"
    unbuilt = sorted(kinds & set(COUNTED_KINDS)) + (
        ["no MLP"] if "none" in spec.mlp_pattern and not one_sublayer else []) + (
        ["no token mixer"] if "none" in kinds and not one_sublayer else [])
    if any(kind == "none" and mlp == "none"
           for kind, mlp in zip(spec.layer_kinds, spec.layer_mlp, strict=True)):
        raise bad("mlp_pattern", "a layer has neither a token mixer nor an MLP")
    if spec.ssm_parallel and not set(spec.attention_pattern) <= {"global", "local"}:
        raise bad("ssm_parallel", "a Mamba-2 mixer beside attention: every layer attends")
    if not unbuilt:
        return
    if not spec.counted_only:
        raise bad("attention_pattern", f"{', '.join(unbuilt)} layers are counted, not built: "
                                       "say why in counted_only")
    if spec.norm_position not in ("pre", "sandwich") or spec.block != "sequential":
        raise bad("norm_position", "these layers are counted as sequential blocks with a norm "
                                   "before each sublayer (and one after it: sandwich)")


def _check_gemma4(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    """Gemma 4's switches: global-layer geometry, shared keys and values, per-layer inputs."""
    for name, default in (("global_d_head", None), ("global_kv_heads", None),
                          ("global_values_from_keys", False), ("global_rotary_fraction", None)):
        if getattr(spec, name) != default and not spec.has_global:
            raise bad(name, "there are no global layers to take it")
    if spec.n_head % spec.global_kv:
        raise bad("global_kv_heads", f"n_head {spec.n_head} is not divisible by global_kv_heads "
                                     f"{spec.global_kv}")
    if spec.global_rotary_fraction is not None and not spec.rotary:
        raise bad("global_rotary_fraction", "only rotary positions take it")
    if spec.value_norm and spec.norm != "rmsnorm":
        raise bad("value_norm", "the value norm is RMSNorm's; set norm: rmsnorm")
    if spec.latent and (spec.kv_shared_layers or spec.global_values_from_keys):
        raise bad("kv_shared_layers" if spec.kv_shared_layers else "global_values_from_keys",
                  "latent attention has no key and value projections to share")
    if spec.latent and any(spec.kv_shared_pattern):
        raise bad("kv_shared_pattern", "latent attention has no key and value projections to "
                                       "share")
    if spec.kv_shared_layers > spec.n_layer or (spec.kv_shared_layers == spec.n_layer
                                                and spec.target_width is None):
        raise bad("kv_shared_layers", f"{spec.kv_shared_layers} of {spec.n_layer} layers "
                                      "share keys and values: none is left to make them "
                                      "(all may, in an assistant: set target_width)")
    makers: set[str] = set()
    assistant = spec.kv_shared_layers == spec.n_layer  # every layer reads the target's keys
    for i, (kind, shared) in enumerate(zip(spec.layer_kinds, spec.layer_kv_shared, strict=True)):
        if shared and kind not in makers and not assistant:
            raise bad("kv_shared_layers" if i >= spec.n_layer - spec.kv_shared_layers
                      else "kv_shared_pattern",
                      f"layer {i} ({kind}) shares keys and values, but no earlier layer of its "
                      f"kind makes them")
        if not shared:
            makers.add(kind)
    if spec.double_wide_shared_mlp and not spec.kv_shared_layers:
        raise bad("double_wide_shared_mlp", "only kv_shared_layers take it")
    if spec.per_layer_vocab is not None and spec.per_layer_embed_dim is None:
        raise bad("per_layer_vocab", "only per-layer embeddings take it: set "
                                     "per_layer_embed_dim")
    for name in ("dense_mlp_with_experts", "router_scales"):
        if getattr(spec, name) and not spec.moe:
            raise bad(name, "only a mixture of experts takes it: set n_experts")
    if spec.dense_mlp_with_experts and (spec.norm_position not in ("sandwich", "pre")
                                        or spec.block != "sequential" or spec.shared_width):
        raise bad("dense_mlp_with_experts", "the dense MLP beside the experts is Gemma 4's "
                                            "(sandwich norms) or LongCat-Flash's (pre norms): "
                                            "a sequential block, no shared experts")


def _check_latent(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    if spec.latent_norm_eps is not None and (not spec.latent or spec.norm != "rmsnorm"):
        raise bad("latent_norm_eps", "only latent attention's RMSNorms take it: set "
                                     "kv_lora_rank and norm: rmsnorm")
    indexer = ("indexer_heads", "indexer_head_dim", "indexer_topk")
    given = [name for name in indexer if getattr(spec, name) is not None]
    if given and len(given) < len(indexer):
        raise bad(given[0], "sparse attention needs indexer_heads, indexer_head_dim and "
                            "indexer_topk")
    if ("indexed" in spec.attention_pattern) != (spec.indexed_keys is not None):
        raise bad("indexed_keys", "indexed layers and indexed_keys come together: the keys "
                                  "an indexed layer's query attends to at most")
    block_sparse = "block_sparse" in spec.attention_pattern
    if block_sparse and (len(given) < len(indexer) or spec.latent or spec.compressed):
        raise bad("attention_pattern", "block_sparse layers are grouped-query attention with "
                                       "an indexer: set indexer_heads, indexer_head_dim and "
                                       "indexer_topk, no latent attention")
    if given and not block_sparse and not spec.q_lora_rank:
        raise bad(given[0], "sparse attention's indexer reads the query latent: set "
                            "kv_lora_rank and q_lora_rank (or block_sparse layers)")
    if given and spec.d_head_rope is not None and spec.indexer_head_dim < spec.d_head_rope:
        raise bad("indexer_head_dim", "the indexer rotates d_head_rope dims of each head")
    if spec.indexer_pattern != (True,) and not (given and spec.latent
                                                 and spec.indexer_pattern[0]):
        raise bad("indexer_pattern", "layers that reuse an earlier indexer's choice need latent "
                                     "attention with an indexer, and the first layer one of "
                                     "its own")
    latent = ("q_lora_rank", "d_head_rope")  # d_head_v: other attentions' too (counted)
    _check_compressed(spec, bad)
    if spec.compressed:  # DeepSeek-V4's queries go through a latent too
        latent = ("d_head_rope",)
    for name in ("global_n_head", "global_kv_lora_rank", "rope_key_norm"):
        if getattr(spec, name) not in (None, False) and not (spec.latent and (
                spec.has_global or name == "rope_key_norm")):
            raise bad(name, "only latent attention takes it (the global_* ones with global "
                            "layers): set kv_lora_rank")
    if not spec.latent:
        for name in latent:
            if getattr(spec, name) is not None:
                raise bad(name, "only latent attention takes it: set kv_lora_rank")
        return
    if spec.d_head_rope is None or spec.d_head_v is None or spec.d_head is None:
        raise bad("kv_lora_rank", "latent attention needs d_head (q/k head), d_head_rope and "
                                  "d_head_v")
    if spec.d_head_rope >= spec.d_head or not (spec.rotary or spec.counted_only):
        raise bad("d_head_rope", "latent attention rotates part of each head: rotary "
                                 "positions, d_head_rope < d_head (without positions, as "
                                 "Kimi Linear's, it is counted only)")


COMPRESSED_FIELDS = ("q_lora_rank", "local_window", "output_groups", "output_rank")


def _check_compressed(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    """DeepSeek-V4's attention kinds and their geometry go together; the rates with the layers
    that compress at them, the indexer with the sparse ones."""
    kinds = set(spec.attention_pattern)
    if not spec.compressed:
        for name in (*COMPRESSED_FIELDS[2:], "sparse_compress_rate", "heavy_compress_rate"):
            if getattr(spec, name) is not None:
                raise bad(name, "only DeepSeek-V4's attention kinds take it")
        return
    if spec.latent or not kinds <= set(COMPRESSED_KINDS):
        raise bad("attention_pattern", "DeepSeek-V4's attention kinds go with no other "
                                       "attention")
    for name in COMPRESSED_FIELDS:
        if getattr(spec, name) is None:
            raise bad(name, f"DeepSeek-V4's attention needs {', '.join(COMPRESSED_FIELDS)}")
    for name, kind in (("sparse_compress_rate", "compressed_sparse"),
                       ("heavy_compress_rate", "heavily_compressed")):
        if (getattr(spec, name) is not None) != (kind in kinds):
            raise bad(name, f"{kind} layers and {name} go together")
    if ("compressed_sparse" in kinds) != (spec.indexer_heads is not None):
        raise bad("indexer_heads", "compressed_sparse layers and their indexer go together")


# per scaling type: the keys it needs, and those it may take
ROPE_SCALING_KEYS = {
    "linear": ((), ()),
    "llama3": (("original_context", "low_freq_factor", "high_freq_factor"), ()),
    "yarn": (("original_context",), ("beta_fast", "beta_slow", "attention_factor", "mscale",
                                     "mscale_all_dim", "truncate")),
    "longrope": (("original_context", "short_factor", "long_factor"), ("attention_factor",)),
}


def _check_rope_scaling(scaling: RopeScaling | None, bad: Callable[[str, str], SpecError]) -> None:
    if scaling is None:
        return
    needs, takes = ROPE_SCALING_KEYS[scaling.type]
    given = [f.name for f in fields(RopeScaling)
             if f.name not in ("type", "factor") and getattr(scaling, f.name) is not None]
    missing = [k for k in needs if k not in given]
    if missing:
        raise bad("rope_scaling", f"{scaling.type} scaling needs {', '.join(missing)}")
    unused = [k for k in given if k not in needs + takes]
    if unused:
        raise bad("rope_scaling", f"{', '.join(unused)} do not apply to {scaling.type} scaling")


def _check_loops(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    """Layers run more than once (Dory, HRM): softmax attention layers only, the cache and
    initial-state switches only with a loop; nGPT's scales with the output gate, unbiased."""
    looped = any(runs > 1 for runs in spec.layer_runs_each)
    for name in ("cache_last_run_only", "initial_state"):
        if getattr(spec, name) and not looped:
            raise bad(name, "no layer runs more than once (layer_runs)")
    if any(runs > 1 and kind not in ("global", "local")
           for kind, runs in zip(spec.layer_kinds, spec.layer_runs_each, strict=True)):
        raise bad("layer_runs", "only global and local attention layers are counted run more "
                                "than once")
    if spec.ngpt_scales and (not spec.attention_output_gate or spec.has_bias("qkv")
                             or spec.moe):
        raise bad("ngpt_scales", "nGPT's s_gate scales the output gate, which has no bias, and "
                                 "its suv scales a dense MLP: set attention_output_gate, no "
                                 "qkv_bias and no experts")


def _check_inkling(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    """Inkling's switches need what they act on: the dynamic taps a key/value convolution,
    the global layers' relative bias an extent, the router's shared rows shared experts, the
    message gates looped layers and block residuals; softmax attention, not latent."""
    needs = {
        "kv_conv_dynamic": (spec.kv_conv_dynamic and spec.kv_conv_kernel is None,
                            "dynamic taps need kv_conv_kernel"),
        "relative_bias_extent": (spec.relative_bias_rank is not None and spec.has_global
                                 and spec.relative_bias_extent is None,
                                 "global layers' relative bias needs relative_bias_extent"),
        "router_scores_shared": (spec.router_scores_shared and not spec.n_shared_experts,
                                 "the router scores shared experts: set n_shared_experts"),
        "loop_gate_rank": (spec.loop_gate_rank is not None
                           and (all(runs == 1 for runs in spec.layer_runs_each)
                                or not spec.block_attention_residuals),
                           "message gates need looped layers (layer_runs) and "
                           "block_attention_residuals"),
    }
    for name, (broken, why) in needs.items():
        if broken:
            raise bad(name, why)
    used = [name for name in ("relative_bias_rank", "kv_conv_kernel", "sublayer_conv_kernel",
                              "loop_gate_rank") if getattr(spec, name) is not None]
    used += [name for name in ("sink_projection", "block_attention_residuals")
             if getattr(spec, name)]
    if used and (spec.latent or not set(spec.layer_kinds) <= {"global", "local"}):
        raise bad(used[0], "Inkling's attention additions are counted on global and local "
                           "softmax attention layers only, not latent")


def _check_shared_blocks(spec: Spec, bad: Callable[[str, str], SpecError]) -> None:
    """Weight-tied transformer blocks (Zamba): invoked somewhere, no more of them than
    invocations, adapters only on them."""
    if spec.shared_blocks is None:
        for name, default in (("shared_block_pattern", (False,)), ("shared_adapter_rank", None),
                              ("shared_attention_adapters", False)):
            if getattr(spec, name) != default:
                raise bad(name, "only shared blocks take it: set shared_blocks")
        return
    if not spec.shared_invocations:
        raise bad("shared_block_pattern", "no layer invokes the shared blocks")
    if spec.shared_blocks > spec.shared_invocations:
        raise bad("shared_blocks", f"{spec.shared_blocks} shared blocks for "
                                   f"{spec.shared_invocations} invocations: some would never run")
    if spec.shared_attention_adapters and spec.shared_adapter_rank is None:
        raise bad("shared_attention_adapters", "attention adapters need shared_adapter_rank")
