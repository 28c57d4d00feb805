"""Mixtures of experts: Mistral's Mixtral (mixtral), Alibaba's Qwen3-MoE (qwen3_moe), JetBrains'
Mellum 2 (mellum: Qwen3-MoE's layer with sliding layers of a rotary base of their own and dense
layers where mlp_layer_types says), Microsoft's Phi-3.5-MoE (phimoe: Mixtral's experts under
LayerNorms with a bias, routed by sparsemixer) and OpenAI's gpt-oss (gpt_oss: attention sinks,
biases, clamped SwiGLU, alternating sliding windows). The
DeepSeek line (latent attention, sigmoid routing) is in zoo.architectures.deepseek.

Hub checkpoints keep one tensor per expert (Mixtral's w1/w2/w3, Qwen's gate/up/down_proj;
transformers 5 fuses them in memory and writes them back per expert); zoo stacks them. gpt-oss
stores its experts fused, input-major, gate and up interleaved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    Source,
    UnsupportedConfigError,
    counted_only,
    defaults_under,
    fused,
    get,
    linear,
    local_rotary,
    norm,
    read_layer_types,
    read_rope,
    rope_parameters,
    same,
    shortest_period,
    write_layer_types,
)
from zoo.architectures.llama import QK_NORMS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
OUTER = {**same("embed.weight", "model.embed_tokens.weight"),
         **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
         **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
         **norm("final_norm", "model.norm"), **same("head.weight", "lm_head.weight")}
ATTENTION = {**fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj",
                                             f"{ATTN}.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj")}


# a dense layer's MLP beside the mixtures (Qwen's mlp_only_layers, DeepSeek's first layers)
DENSE_MLP = {**fused("blocks.{i}.mlp.fc_in", (f"{LAYER}.mlp.gate_proj", f"{LAYER}.mlp.up_proj"),
                     "gate_up"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.down_proj")}


def experts(moe: str, gate: str, up: str, down: str) -> dict[str, Source]:
    """A router `{moe}.gate` and per-expert gate/up/down matrices, as hub checkpoints keep
    them (`{e}` the expert)."""
    return {"blocks.{i}.mlp.router.weight": Source((f"{moe}.gate.weight",)),
            "blocks.{i}.mlp.experts.fc_in": Source((f"{moe}.experts.{{e}}.{gate}.weight",
                                                    f"{moe}.experts.{{e}}.{up}.weight"),
                                                   "experts_gate_up"),
            "blocks.{i}.mlp.experts.fc_out": Source((f"{moe}.experts.{{e}}.{down}.weight",),
                                                    "experts_stack")}


def _moe_fields(c: Mapping[str, Any], width_key: str) -> Config:
    """transformers spells the expert count num_local_experts in memory, and Qwen's configs
    num_experts; gpt-oss's old configs experts_per_token."""
    return {"n_experts": get(c, "num_local_experts", "num_experts"),
            "experts_per_token": get(c, "num_experts_per_tok", "experts_per_token"),
            "d_ff_expert": get(c, width_key)}


def _needs_moe(s: ModelSpec) -> None:
    if not s.moe:
        raise UnsupportedConfigError("not a mixture of experts")


def dense_layers_first(c: Mapping[str, Any], default_dense: int) -> int:
    """The dense layers before the first MoE layer, from mlp_layer_types (dense then sparse
    only) or, without it, the class's default count."""
    layers, types = get(c, "num_hidden_layers"), c.get("mlp_layer_types")
    if types is None:
        return default_dense
    if len(types) != layers:
        raise UnsupportedConfigError(f"mlp_layer_types has {len(types)} entries for "
                                     f"num_hidden_layers {layers}")
    dense = next((i for i, kind in enumerate(types) if kind != "dense"), len(types))
    if list(types) != ["dense"] * dense + ["sparse"] * (layers - dense):
        raise UnsupportedConfigError(f"mlp_layer_types other than dense layers then "
                                     f"{layers - dense} sparse ones are not supported")
    return dense


def sigmoid_routed(c: Mapping[str, Any], *, experts: str, shared: str | None, scaling: str,
                    groups: bool = True) -> Config:
    """DeepSeek-V3's routing under grouped-query attention (sigmoid scores, a selection-only
    bias, a shared MLP of n_shared x the expert width, none without a `shared` key): the MoE
    fields, keys as named."""
    out: Config = {"n_experts": get(c, experts),
                   "experts_per_token": get(c, "num_experts_per_tok"),
                   "d_ff_expert": get(c, "moe_intermediate_size"),
                   "n_shared_experts": get(c, shared) if shared else 0,
                   "router_scoring": "sigmoid",
                   "routing_bias": True, "routed_scaling": float(get(c, scaling))}
    if groups:
        out.update(router_normalize=bool(c["norm_topk_prob"]),
                   expert_groups=get(c, "n_group"), expert_groups_per_token=get(c, "topk_group"))
    return out


def read_sparse_layers(c: Mapping[str, Any]) -> Config:
    """Qwen's MoE layer schedule: a layer is a mixture unless it is in mlp_only_layers, and
    only every decoder_sparse_step-th layer is (counted from 1); the others keep a dense MLP of
    intermediate_size. As mlp_pattern (its shortest period); nothing when every layer is."""
    step, dense = get(c, "decoder_sparse_step", default=1), get(c, "mlp_only_layers", default=[])
    if not isinstance(step, int) or step < 1:
        raise UnsupportedConfigError(f"decoder_sparse_step {step!r}: expected an integer >= 1")
    if get(c, "num_experts", default=1) < 1:
        raise UnsupportedConfigError("num_experts 0 (every layer dense) is not a mixture of "
                                     "experts")
    kinds = ["dense" if i in dense or (i + 1) % step else "moe"
             for i in range(get(c, "num_hidden_layers"))]
    return {} if "dense" not in kinds else {"mlp_pattern": shortest_period(kinds)}


def write_sparse_layers(s: ModelSpec) -> Config:
    """The schedule as mlp_only_layers (every dense layer named), decoder_sparse_step 1."""
    return {"decoder_sparse_step": 1,
            "mlp_only_layers": [i for i, moe in enumerate(s.layer_moe) if not moe]}


# --- Mixtral --------------------------------------------------------------------------------

# MixtralConfig's defaults for what read_mixtral reads (8 key/value heads, whatever the query
# heads; no sliding window)
MIXTRAL_DEFAULTS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
                    "num_hidden_layers": 32, "num_attention_heads": 32,
                    "num_key_value_heads": 8, "max_position_embeddings": 131072,
                    "rms_norm_eps": 1e-5, "num_experts_per_tok": 2, "num_local_experts": 8,
                    "rope_theta": 1e6}


def read_mixtral(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, MIXTRAL_DEFAULTS)
    out = read_llama_like(c, qkv_bias=False, attn_out_bias=False, mlp_bias=False,
                          norm_eps=c["rms_norm_eps"],
                          **_moe_fields(c, "intermediate_size"))
    out.pop("d_ff_expert")  # Mixtral's experts are its MLP: d_ff
    if c.get("sliding_window") is not None:
        out.update(attention_pattern=["local"], local_window=c["sliding_window"])
    return out


def write_mixtral(s: ModelSpec) -> Config:
    _needs_moe(s)
    return {**write_llama_like(s), "num_local_experts": s.n_experts,
            "num_experts_per_tok": s.experts_per_token, "intermediate_size": s.expert_width,
            "sliding_window": s.local_window if s.has_local else None}


# --- PhiMoE -----------------------------------------------------------------------------------

# PhimoeConfig's defaults for what read_phimoe reads
PHIMOE_DEFAULTS = {"vocab_size": 32064, "hidden_size": 4096, "intermediate_size": 6400,
                   "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                   "hidden_act": "silu", "max_position_embeddings": 4096 * 32,
                   "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
                   "num_experts_per_tok": 2, "num_local_experts": 16,
                   "router_jitter_noise": 0.01, "attention_bias": False, "lm_head_bias": False}


def read_phimoe(c: Mapping[str, Any]) -> Config:
    """Phi-3.5-MoE: Mixtral's experts (the MLP's width each) under LayerNorms with a bias (eps
    rms_norm_eps), attention_bias on q, k, v and the output, lm_head_bias on the head, every
    layer sliding where sliding_window is set; sparsemixer routes each token to two experts
    (whatever num_experts_per_tok says), its threshold router_jitter_noise. A scaled rotary
    (its short_mscale / long_mscale picked by the sequence's length) is counted, not built."""
    c = defaults_under(c, PHIMOE_DEFAULTS)
    bias = bool(c["attention_bias"])
    out = read_llama_like(c, norm="layernorm", norm_bias=True, norm_eps=c["rms_norm_eps"],
                          qkv_bias=bias, attn_out_bias=bias, mlp_bias=False,
                          head_bias=bool(c["lm_head_bias"]), n_experts=get(c, "num_local_experts"),
                          experts_per_token=2, router_scoring="sparsemixer",
                          router_jitter=float(c["router_jitter_noise"]))
    if (k := get(c, "num_experts_per_tok")) != 2:
        out["notes"] = [f"num_experts_per_tok {k} is not read: transformers' sparsemixer "
                        f"routes every token to two experts"]
    if c.get("sliding_window") is not None:
        out.update(attention_pattern=["local"], local_window=c["sliding_window"])
    if "rope_scaling" in out:
        counted_only(out, "PhiMoE's scaled rotary (short_mscale or long_mscale by the "
                          "sequence's length) is not built")
    return out


def write_phimoe(s: ModelSpec) -> Config:
    _needs_moe(s)
    if s.has_bias("qkv") != s.has_bias("attn_out"):
        raise UnsupportedConfigError("PhiMoE's attention_bias is on q, k, v and the output")
    return {**write_mixtral(s), "rms_norm_eps": s.norm_eps, "attention_bias": s.has_bias("qkv"),
            "lm_head_bias": s.head_bias, "router_jitter_noise": s.router_jitter}


# --- Qwen3-MoE ------------------------------------------------------------------------------

# Qwen3MoeConfig's defaults for what read_qwen3_moe reads. Its class has no head_dim: the
# attention takes the config's when it has one, else hidden_size / num_attention_heads.
QWEN3_MOE_DEFAULTS = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144,
                      "num_hidden_layers": 24, "num_attention_heads": 32,
                      "num_key_value_heads": 4, "max_position_embeddings": 32768,
                      "rms_norm_eps": 1e-6, "moe_intermediate_size": 768,
                      "num_experts_per_tok": 8, "num_experts": 128}


def read_qwen3_moe(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, QWEN3_MOE_DEFAULTS)
    out = read_llama_like(c, qk_norm="head", mlp_bias=False,
                          router_normalize=bool(c.get("norm_topk_prob", False)),
                          **_moe_fields(c, "moe_intermediate_size"))
    window = c.get("sliding_window", 4096) if c.get("use_sliding_window") else None
    return {**out, **read_layer_types(c, window), **read_sparse_layers(c)}


def write_qwen3_moe(s: ModelSpec) -> Config:
    _needs_moe(s)
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "num_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "moe_intermediate_size": s.expert_width, "norm_topk_prob": s.router_normalize,
            "use_sliding_window": s.has_local, "sliding_window": s.local_window,
            "layer_types": write_layer_types(s), **write_sparse_layers(s)}


# --- Mellum --------------------------------------------------------------------------------

# MellumConfig's defaults for what read_mellum reads (every layer full attention and a mixture
# unless layer_types / mlp_layer_types say; a rotary base for each layer type)
MELLUM_DEFAULTS = {"vocab_size": 98304, "hidden_size": 2304, "intermediate_size": 7168,
                   "num_hidden_layers": 28, "num_attention_heads": 32, "num_key_value_heads": 4,
                   "head_dim": 128, "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
                   "attention_bias": False, "sliding_window": 1024,
                   "moe_intermediate_size": 896, "num_experts_per_tok": 8, "num_experts": 64,
                   "norm_topk_prob": True}
MELLUM_ROPE = {"full_attention": {"rope_type": "default", "rope_theta": 500000.0},
               "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
MLP_LAYER_TYPES = {"dense": "dense", "sparse": "moe"}


def _mellum_rope(c: Mapping[str, Any], layer_type: str) -> Config:
    """One layer type's rotary: MellumConfig keeps rope_parameters per layer type only (its
    top-level rope_theta is never read)."""
    params = (c.get("rope_parameters") or MELLUM_ROPE).get(layer_type)
    if not isinstance(params, Mapping) or "rope_theta" not in params:
        raise UnsupportedConfigError(f"rope_parameters has no {layer_type!r} entry with a "
                                     f"rope_theta (Mellum keeps one per layer type)")
    return read_rope({"max_position_embeddings": c["max_position_embeddings"]}, params=params)


def read_mellum(config: Mapping[str, Any]) -> Config:
    c = defaults_under(config, MELLUM_DEFAULTS)
    layers = get(c, "num_hidden_layers")
    types = c.get("layer_types") or ["full_attention"] * layers
    mlp = c.get("mlp_layer_types") or ["sparse"] * layers
    if len(types) != layers or len(mlp) != layers:
        raise UnsupportedConfigError(f"layer_types and mlp_layer_types need {layers} entries, "
                                     f"one a layer")
    if set(mlp) - set(MLP_LAYER_TYPES):
        raise UnsupportedConfigError(f"mlp_layer_types {sorted(set(mlp) - set(MLP_LAYER_TYPES))}"
                                     f": Mellum's are dense or sparse")
    plain = {k: v for k, v in c.items() if k not in ("rope_parameters", "rope_scaling",
                                                     "rope_theta", "partial_rotary_factor")}
    out = read_llama_like(plain, qk_norm="head", mlp_bias=False, norm_eps=c["rms_norm_eps"],
                          router_normalize=bool(c["norm_topk_prob"]),
                          **_moe_fields(c, "moe_intermediate_size"))
    rope = {t: _mellum_rope(c, t) for t in dict.fromkeys(types)}
    out.update(rope.get("full_attention") or {**rope["sliding_attention"]},
               **read_layer_types({"layer_types": types}, c.get("sliding_window")))
    if "moe" not in (kinds := [MLP_LAYER_TYPES[k] for k in mlp]):
        raise UnsupportedConfigError("mlp_layer_types has no sparse layer: not a mixture")
    if "dense" in kinds:
        out["mlp_pattern"] = shortest_period(kinds)
    if any(r["rotary_fraction"] != 1.0 for r in rope.values()):
        counted_only(out, "partial_rotary_factor: transformers' Mellum rotates whole heads "
                          "(its rotary fails on a partial one)")
    if "full_attention" in rope and "sliding_attention" in rope:
        local_rotary(out, rope["sliding_attention"])
    return out


def write_mellum(s: ModelSpec) -> Config:
    _needs_moe(s)
    if s.has_bias("qkv") != s.has_bias("attn_out"):
        raise UnsupportedConfigError("Mellum's attention_bias is on q, k, v and the output")
    local = s.local_rope_theta if s.local_rope_theta is not None else s.rope_theta
    if s.local_rope_theta is None and s.has_local and s.rope_scaling is not None:
        raise UnsupportedConfigError("Mellum's sliding layers are never scaled here")
    config = {k: v for k, v in write_llama_like(s).items()
              if k not in ("rope_theta", "rope_scaling")}
    return {**config, "attention_bias": s.has_bias("qkv"), "num_experts": s.n_experts,
            "num_experts_per_tok": s.experts_per_token, "moe_intermediate_size": s.expert_width,
            "norm_topk_prob": s.router_normalize,
            "sliding_window": s.local_window if s.has_local else None,
            "layer_types": write_layer_types(s),
            "mlp_layer_types": ["sparse" if moe else "dense" for moe in s.layer_moe],
            "rope_parameters": {"full_attention": rope_parameters(s),
                                "sliding_attention": rope_parameters(s, theta=local,
                                                                     scaled=False)}}


# --- gpt-oss --------------------------------------------------------------------------------

def read_gpt_oss(c: Mapping[str, Any]) -> Config:
    """gpt-oss's class defaults what its config leaves out: YaRN (factor 32 over 4096,
    untruncated), sliding windows of 128 on even layers, the clamp at 7."""
    c = {"num_attention_heads": 64, "head_dim": 64, "num_key_value_heads": 8,
         "sliding_window": 128, "attention_bias": True, "rope_theta": 150000.0, **c}
    if not c.get("rope_parameters") and not c.get("rope_scaling"):
        c["rope_scaling"] = {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0,
                             "beta_slow": 1.0, "truncate": False,
                             "original_max_position_embeddings": 4096}
    if not c.get("layer_types"):
        c["layer_types"] = ["sliding_attention" if (i + 1) % 2 else "full_attention"
                            for i in range(get(c, "num_hidden_layers"))]
    if c.get("swiglu_alpha", 1.702) != 1.702:
        raise UnsupportedConfigError("gpt-oss with swiglu_alpha other than 1.702 is not "
                                     "supported")
    bias = bool(c["attention_bias"])
    out = read_llama_like(c, qkv_bias=bias, attn_out_bias=bias, mlp_bias=True,
                          norm_eps=c.get("rms_norm_eps", 1e-5), attention_sinks=True,
                          activation="clamped_swiglu",
                          swiglu_limit=float(c.get("swiglu_limit", 7.0)), router_bias=True,
                          norm_fp32_scale=True,  # GptOssRMSNorm weighs before the cast back
                          **_moe_fields(c, "intermediate_size"))
    out.pop("d_ff_expert")  # gpt-oss's experts are its MLP: d_ff
    return {**out, **read_layer_types(c, c["sliding_window"])}


def write_gpt_oss(s: ModelSpec) -> Config:
    _needs_moe(s)
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "num_local_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "intermediate_size": s.expert_width, "swiglu_limit": s.swiglu_limit,
            "sliding_window": s.local_window, "layer_types": write_layer_types(s)}


GPT_OSS_MOE = f"{LAYER}.mlp"
GPT_OSS = {
    **OUTER, **ATTENTION,
    **same("blocks.{i}.attn.sinks", f"{ATTN}.sinks"),
    **linear("blocks.{i}.mlp.router", f"{GPT_OSS_MOE}.router"),
    "blocks.{i}.mlp.experts.fc_in": Source((f"{GPT_OSS_MOE}.experts.gate_up_proj",),
                                           "experts_interleaved"),
    "blocks.{i}.mlp.experts.fc_in_bias": Source((f"{GPT_OSS_MOE}.experts.gate_up_proj_bias",),
                                                "experts_interleaved"),
    "blocks.{i}.mlp.experts.fc_out": Source((f"{GPT_OSS_MOE}.experts.down_proj",),
                                            "experts_transpose"),
    **same("blocks.{i}.mlp.experts.fc_out_bias", f"{GPT_OSS_MOE}.experts.down_proj_bias"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 140
ENTRIES = (
    Architecture(model_type="mixtral", hf_class="MixtralForCausalLM", read=read_mixtral,
                 write=write_mixtral, prefix="model.",
                 tensors={**OUTER, **ATTENTION, **experts(f"{LAYER}.block_sparse_moe", "w1",
                                                          "w3", "w2")}),
    Architecture(model_type="phimoe", hf_class="PhimoeForCausalLM", read=read_phimoe,
                 write=write_phimoe, prefix="model.",
                 tensors={**OUTER, **ATTENTION, **linear("head", "lm_head"),
                          **experts(f"{LAYER}.block_sparse_moe", "w1", "w3", "w2")}),
    Architecture(model_type="qwen3_moe", hf_class="Qwen3MoeForCausalLM", read=read_qwen3_moe,
                 write=write_qwen3_moe, prefix="model.",
                 tensors={**OUTER, **ATTENTION, **QK_NORMS, **DENSE_MLP,
                          **experts(f"{LAYER}.mlp", "gate_proj", "up_proj", "down_proj")}),
    Architecture(model_type="mellum", hf_class="MellumForCausalLM", read=read_mellum,
                 write=write_mellum, prefix="model.",
                 tensors={**OUTER, **ATTENTION, **QK_NORMS, **DENSE_MLP,
                          **experts(f"{LAYER}.mlp", "gate_proj", "up_proj", "down_proj")}),
    Architecture(model_type="gpt_oss", hf_class="GptOssForCausalLM", read=read_gpt_oss,
                 write=write_gpt_oss, prefix="model.", tensors=GPT_OSS),
)
