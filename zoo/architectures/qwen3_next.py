"""Alibaba's hybrid decoders: Qwen3-Next (qwen3_next) and Qwen3.5's text decoders (qwen3_5_text,
dense; qwen3_5_moe_text, experts), and the vision-language wrappers Qwen3.5 is published as
(qwen3_5, qwen3_5_moe), read for their text decoder.

Three of every four layers are Gated DeltaNet linear attention (a recurrent state instead of a
KV cache); the rest are full attention whose q_proj also holds a sigmoid output gate, with
QK-norm and partial rotary. Every norm but the DeltaNet's gated one is zero-centred (1 + w).
Qwen3-Next fuses the DeltaNet's input projections per key head (in_proj_qkvz, in_proj_ba);
Qwen3.5 stores them split (in_proj_qkv, in_proj_z, in_proj_b, in_proj_a). zoo keeps one
[q; k; v; z; b; a] matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    Source,
    UnsupportedConfigError,
    defaults_under,
    get,
    linear,
    norm,
    read_rope,
    same,
    shortest_period,
    text_decoder_of,
    write_rope,
)
from zoo.architectures.moe import experts
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
LINEAR = f"{LAYER}.linear_attn"
MLP = f"{LAYER}.mlp"

# transformers' class defaults, per model_type (Qwen3_5TextConfig and Qwen3_5MoeTextConfig
# override a few of Qwen3NextConfig's); `moe` says whether the class has experts at all
DEFAULTS: dict[str, dict[str, Any]] = {
    "qwen3_next": {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 5632,
                   "num_hidden_layers": 48, "num_key_value_heads": 2, "num_experts": 512,
                   "num_experts_per_tok": 10},
    "qwen3_5_text": {"vocab_size": 248320, "hidden_size": 4096, "intermediate_size": 12288,
                     "num_hidden_layers": 32, "num_key_value_heads": 4},
    "qwen3_5_moe_text": {"vocab_size": 248320, "hidden_size": 2048, "num_hidden_layers": 40,
                         "num_key_value_heads": 2, "num_experts": 256,
                         "num_experts_per_tok": 8},
}
SHARED_DEFAULTS = {"num_attention_heads": 16, "head_dim": 256, "max_position_embeddings": 32768,
                   "rms_norm_eps": 1e-6, "attention_bias": False, "linear_conv_kernel_dim": 4,
                   "linear_key_head_dim": 128, "linear_value_head_dim": 128,
                   "linear_num_key_heads": 16, "linear_num_value_heads": 32,
                   "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
                   "tie_word_embeddings": False, "hidden_act": "silu"}
LAYER_TYPES = {"linear_attention": "linear", "full_attention": "global"}


def _layer_kinds(c: Mapping[str, Any], layers: int) -> list[str]:
    """layer_types, or full_attention_interval (default 4: every fourth layer full)."""
    types = c.get("layer_types")
    if not types:
        interval = get(c, "full_attention_interval", default=4)
        types = ["linear_attention" if (i + 1) % interval else "full_attention"
                 for i in range(layers)]
    unknown = sorted({t for t in types if t not in LAYER_TYPES})
    if unknown:
        raise UnsupportedConfigError(f"layer_types {', '.join(unknown)} are not supported; zoo "
                                     f"reads {', '.join(LAYER_TYPES)}")
    if len(types) != layers:
        raise UnsupportedConfigError(f"layer_types has {len(types)} entries for "
                                     f"{layers} layers")
    return shortest_period([LAYER_TYPES[t] for t in types])


def read_hybrid(c: Mapping[str, Any], model_type: str) -> Config:
    """The fields of one of the three text decoders; a key left out means its class default."""
    c = defaults_under(c, {**SHARED_DEFAULTS, **DEFAULTS[model_type]})
    if c["hidden_act"] != "silu":
        raise UnsupportedConfigError(f"hidden_act {c['hidden_act']!r}: the MLP and the "
                                     f"DeltaNet convolution here are SiLU")
    rope = read_rope(c, 0.25)
    layers, bias = get(c, "num_hidden_layers"), bool(c["attention_bias"])
    out: Config = dict(
        n_layer=layers, d_model=get(c, "hidden_size"), n_head=get(c, "num_attention_heads"),
        n_kv_head=get(c, "num_key_value_heads"), d_head=get(c, "head_dim"),
        vocab_size=get(c, "vocab_size"), context_length=get(c, "max_position_embeddings"),
        position="rotary", **rope, norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        norm_unit_offset=True, qk_norm="head", attention_output_gate=True,
        activation="swiglu", bias=False, qkv_bias=bias, attn_out_bias=bias,
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=_layer_kinds(c, layers),
        linear_n_k_head=get(c, "linear_num_key_heads"),
        linear_n_v_head=get(c, "linear_num_value_heads"),
        linear_d_head_k=get(c, "linear_key_head_dim"),
        linear_d_head_v=get(c, "linear_value_head_dim"),
        linear_conv_kernel=get(c, "linear_conv_kernel_dim"))
    if model_type == "qwen3_5_text":  # dense: no expert keys in the class
        return {**out, "d_ff": get(c, "intermediate_size")}
    return {**out, **_read_experts(c, model_type)}


def _read_experts(c: Mapping[str, Any], model_type: str) -> Config:
    """Qwen3-Next: experts on layers (i + 1) % decoder_sparse_step == 0 outside mlp_only_layers
    (none when num_experts is 0), a dense MLP of intermediate_size elsewhere. Qwen3.5-MoE's
    class has no dense MLP: every layer's experts, their top-k weights always renormalised."""
    width, shared = get(c, "moe_intermediate_size"), get(c, "shared_expert_intermediate_size")
    if model_type == "qwen3_5_moe_text":
        fields: Config = {"d_ff": width, "router_normalize": True}
        pattern = ["moe"]
    else:
        if c.get("mlp_only_layers"):
            raise UnsupportedConfigError("Qwen3-Next with dense layers named in mlp_only_layers "
                                         "is not supported")
        if not get(c, "num_experts"):
            return {"d_ff": get(c, "intermediate_size")}
        step = get(c, "decoder_sparse_step", default=1)
        fields = {"d_ff": get(c, "intermediate_size"), "d_ff_expert": width,
                  "router_normalize": bool(c.get("norm_topk_prob", True))}
        pattern = ["dense"] * (step - 1) + ["moe"]
    fields.update(n_experts=get(c, "num_experts"), experts_per_token=get(c, "num_experts_per_tok"),
                  router_scoring="softmax")
    if pattern != ["moe"]:
        fields["mlp_pattern"] = pattern
    if shared:  # a zero width leaves the gated shared expert out of the sum, not of the model
        fields.update(n_shared_experts=1, d_ff_shared=shared, shared_expert_gate=True)
    else:
        raise UnsupportedConfigError("shared_expert_intermediate_size 0 (an empty shared "
                                     "expert whose gate transformers still builds) is not "
                                     "supported")
    return fields


def read_wrapper(c: Mapping[str, Any], model_type: str) -> Config:
    """A Qwen3.5 vision-language config.json read for its text decoder (text_config) only: the
    vision tower is not counted (its size is in the spec notes)."""
    text = dict(c.get("text_config") or {})
    if "tie_word_embeddings" not in text and "tie_word_embeddings" in c:
        text["tie_word_embeddings"] = c["tie_word_embeddings"]
    return text_decoder_of(read_hybrid(text, model_type), "Qwen3.5 vision-language",
                           "vision tower")


def _check_hybrid(s: ModelSpec) -> None:
    """What every one of these classes hard-codes: the hybrid layers, the gated full attention
    with QK-norm per head, zero-centred RMSNorm, SwiGLU, no MLP biases."""
    if not s.has_linear or set(s.attention_pattern) - {"linear", "global"}:
        raise UnsupportedConfigError("a Qwen3-Next-style decoder has linear and full "
                                     "attention layers only")
    fixed = {"attention_output_gate": True, "qk_norm": "head", "norm": "rmsnorm",
             "norm_unit_offset": True, "activation": "swiglu", "position": "rotary",
             "rotary_style": "half", "norm_position": "pre", "block": "sequential"}
    for name, value in fixed.items():
        if getattr(s, name) != value:
            raise UnsupportedConfigError(f"{name} must be {value!r} here")
    if s.has_bias("mlp") or s.has_bias("qkv") != s.has_bias("attn_out"):
        raise UnsupportedConfigError("attention_bias covers q, k, v and o alike; no MLP bias")
    if s.rope_scaling is not None or not all(s.layer_rotary):
        raise UnsupportedConfigError("scaled or skipped rotary is not written here")


def _write_common(s: ModelSpec) -> Config:
    _check_hybrid(s)
    to_hf = {ours: theirs for theirs, ours in LAYER_TYPES.items()}
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "head_dim": s.head_dim, "max_position_embeddings": s.context_length,
            "hidden_act": "silu", "rms_norm_eps": s.norm_eps,
            "attention_bias": s.has_bias("qkv"), **write_rope(s, {}),
            "partial_rotary_factor": s.rotary_fraction,
            "layer_types": [to_hf[kind] for kind in s.layer_kinds],
            "linear_num_key_heads": s.linear_n_k_head,
            "linear_num_value_heads": s.linear_n_v_head,
            "linear_key_head_dim": s.linear_d_head_k,
            "linear_value_head_dim": s.linear_d_head_v,
            "linear_conv_kernel_dim": s.linear_conv_kernel}


def _write_experts(s: ModelSpec) -> Config:
    if (s.n_shared_experts != 1 or not s.shared_expert_gate or s.router_scoring != "softmax"
            or s.routing_bias or s.router_bias or s.expert_groups is not None
            or s.routed_scaling != 1.0 or s.first_dense_layers):
        raise UnsupportedConfigError("Qwen3-Next's experts: softmax top-k, one gated shared "
                                     "expert, no biases, groups or scaling")
    return {"num_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "moe_intermediate_size": s.expert_width,
            "shared_expert_intermediate_size": s.shared_width}


def write_qwen3_next(s: ModelSpec) -> Config:
    out = {**_write_common(s), "intermediate_size": s.d_ff}
    if not s.moe:
        return {**out, "num_experts": 0, "mlp_only_layers": []}
    pattern = list(s.mlp_pattern)
    if pattern != ["dense"] * (len(pattern) - 1) + ["moe"]:
        raise UnsupportedConfigError("Qwen3-Next's experts are on every decoder_sparse_step-th "
                                     "layer")
    return {**out, **_write_experts(s), "norm_topk_prob": s.router_normalize,
            "decoder_sparse_step": len(pattern), "mlp_only_layers": []}


def write_qwen3_5(s: ModelSpec) -> Config:
    if s.moe:
        raise UnsupportedConfigError("Qwen3.5's dense decoder has no experts")
    return {**_write_common(s), "intermediate_size": s.d_ff}


def write_qwen3_5_moe(s: ModelSpec) -> Config:
    if not s.moe or s.mlp_pattern != ("moe",) or not s.router_normalize \
            or s.expert_width != s.d_ff:
        raise UnsupportedConfigError("Qwen3.5-MoE has experts of d_ff on every layer, "
                                     "renormalised")
    return {**_write_common(s), **_write_experts(s)}


def write_none(s: ModelSpec) -> Config:
    raise UnsupportedConfigError("zoo writes Qwen3.5's text decoder as qwen3_5_text or "
                                 "qwen3_5_moe_text")


ATTENTION = {
    # q_proj holds each head's query and its output gate: [q_h; gate_h] per head
    "blocks.{i}.attn.qkv.weight": Source((f"{ATTN}.q_proj.weight", f"{ATTN}.k_proj.weight",
                                          f"{ATTN}.v_proj.weight"), "qkv"),
    "blocks.{i}.attn.qkv.bias": Source((f"{ATTN}.q_proj.bias", f"{ATTN}.k_proj.bias",
                                        f"{ATTN}.v_proj.bias"), "qkv"),
    **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
    **norm("blocks.{i}.attn.q_norm", f"{ATTN}.q_norm"),
    **norm("blocks.{i}.attn.k_norm", f"{ATTN}.k_norm"),
}
DELTANET = {
    **same("blocks.{i}.attn.conv", f"{LINEAR}.conv1d.weight"),
    **same("blocks.{i}.attn.A_log", f"{LINEAR}.A_log"),
    **same("blocks.{i}.attn.dt_bias", f"{LINEAR}.dt_bias"),
    **norm("blocks.{i}.attn.norm", f"{LINEAR}.norm"),
    **same("blocks.{i}.attn.out_proj.weight", f"{LINEAR}.out_proj.weight"),
}
FUSED_IN = {"blocks.{i}.attn.in_proj.weight": Source(
    (f"{LINEAR}.in_proj_qkvz.weight", f"{LINEAR}.in_proj_ba.weight"), "qkvz_ba")}
SPLIT_IN = {"blocks.{i}.attn.in_proj.weight": Source(
    tuple(f"{LINEAR}.in_proj_{part}.weight" for part in ("qkv", "z", "b", "a")),
    "deltanet_split")}
OUTER = {**same("embed.weight", "model.embed_tokens.weight"),
         **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
         **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
         **norm("final_norm", "model.norm"), **same("head.weight", "lm_head.weight")}
DENSE = {"blocks.{i}.mlp.fc_in.weight": Source((f"{MLP}.gate_proj.weight",
                                                f"{MLP}.up_proj.weight"), "gate_up"),
         **same("blocks.{i}.mlp.fc_out.weight", f"{MLP}.down_proj.weight")}
EXPERTS = {
    **experts(MLP, "gate_proj", "up_proj", "down_proj"),
    "blocks.{i}.mlp.shared.fc_in.weight": Source((f"{MLP}.shared_expert.gate_proj.weight",
                                                  f"{MLP}.shared_expert.up_proj.weight"),
                                                 "gate_up"),
    **same("blocks.{i}.mlp.shared.fc_out.weight", f"{MLP}.shared_expert.down_proj.weight"),
    **same("blocks.{i}.mlp.shared_gate.weight", f"{MLP}.shared_expert_gate.weight"),
}
NEXT = {**OUTER, **ATTENTION, **DELTANET, **FUSED_IN, **DENSE, **EXPERTS}
QWEN3_5 = {**OUTER, **ATTENTION, **DELTANET, **SPLIT_IN, **DENSE}
QWEN3_5_MOE = {**OUTER, **ATTENTION, **DELTANET, **SPLIT_IN, **EXPERTS}


def _wrapped(tensors: Mapping[str, Source]) -> dict[str, Source]:
    """The wrapper's checkpoint names: the text decoder under model.language_model."""
    return {k: v._replace(hf=tuple(h.replace("model.", "model.language_model.", 1)
                                   for h in v.hf)) for k, v in tensors.items()}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 150
ENTRIES = (
    Architecture(model_type="qwen3_next", hf_class="Qwen3NextForCausalLM",
                 read=lambda c: read_hybrid(c, "qwen3_next"), write=write_qwen3_next,
                 prefix="model.", tensors=NEXT, ignore=("mtp.",)),
    Architecture(model_type="qwen3_5_text", hf_class="Qwen3_5ForCausalLM",
                 read=lambda c: read_hybrid(c, "qwen3_5_text"), write=write_qwen3_5,
                 prefix="model.", tensors=QWEN3_5, ignore=("mtp.",)),
    Architecture(model_type="qwen3_5_moe_text", hf_class="Qwen3_5MoeForCausalLM",
                 read=lambda c: read_hybrid(c, "qwen3_5_moe_text"), write=write_qwen3_5_moe,
                 prefix="model.", tensors=QWEN3_5_MOE, ignore=("mtp.",)),
    Architecture(model_type="qwen3_5", hf_class="Qwen3_5ForConditionalGeneration",
                 read=lambda c: read_wrapper(c, "qwen3_5_text"), write=write_none,
                 prefix="model.language_model.", tensors=_wrapped(QWEN3_5),
                 ignore=("mtp.", "model.visual.")),
    Architecture(model_type="qwen3_5_moe", hf_class="Qwen3_5MoeForConditionalGeneration",
                 read=lambda c: read_wrapper(c, "qwen3_5_moe_text"), write=write_none,
                 prefix="model.language_model.", tensors=_wrapped(QWEN3_5_MOE),
                 ignore=("mtp.", "model.visual.")),
)
