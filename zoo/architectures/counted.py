"""The long tail: transformers' model_types that are another entry's class under another name,
and those whose parameters the closed form counts exactly but whose computation zoo's decoder
does not implement (counted, not built).

Each row states the class's own defaults for the keys its reader reads (from the config class
in transformers 5.25), so a key a config.json leaves out means what it means there;
tests/test_config_defaults.py drops each key of every row's default config and holds the count
to transformers'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from zoo.architectures import deepseek, gpt, gptj, granitemoe, llama, moe
from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    activation,
    defaults_under,
    get,
    read_layer_types,
    read_rope,
    refuse_write,
    with_defaults,
)
from zoo.architectures.llama import read_llama_like

Reader = Callable[[Mapping[str, Any]], Config]


def _entry(module: Any, model_type: str) -> Architecture:
    return next(e for e in module.ENTRIES if e.model_type == model_type)


def _with_defaults(read: Reader, defaults: Mapping[str, Any]) -> Reader:
    return lambda c: read(with_defaults(c, defaults))


# model_types transformers builds with a class zoo builds: (that class's entry, this type's
# config-class defaults). A config naming the class in `architectures` is found without a row.
SAME_CLASS: dict[str, tuple[Architecture, dict[str, Any]]] = {
    "exaone": (_entry(llama, "llama"), {
        "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}),
    "internlm3": (_entry(llama, "llama"), {
        "vocab_size": 128512, "hidden_size": 4096, "intermediate_size": 10240,
        "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 2,
        "head_dim": 128, "max_position_embeddings": 32768, "rms_norm_eps": 1e-5}),
    "iquestcoder": (_entry(llama, "llama"), {
        "vocab_size": 76800, "hidden_size": 5120, "intermediate_size": 27648,
        "num_hidden_layers": 80, "num_attention_heads": 40, "num_key_value_heads": 8,
        "head_dim": 128, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5}),
    "sarvam_mla": (_entry(deepseek, "deepseek_v3"), {
        "vocab_size": 262144, "hidden_size": 4096, "intermediate_size": 16384,
        "num_hidden_layers": 32, "num_attention_heads": 64, "max_position_embeddings": 4096,
        "moe_intermediate_size": 2048, "n_shared_experts": 1, "n_routed_experts": 128,
        "kv_lora_rank": 512, "q_lora_rank": None, "qk_rope_head_dim": 64, "v_head_dim": 128,
        "qk_nope_head_dim": 128, "n_group": 1, "topk_group": 1, "num_experts_per_tok": 8,
        "first_k_dense_replace": 1, "norm_topk_prob": True, "routed_scaling_factor": 2.5}),
    # transformers maps gpt-sw3 to GPT2Config itself: GPT-2's defaults
    "gpt-sw3": (_entry(gpt, "gpt2"), {}),
    # GLM-4.5's class with its whole head rotated (partial_rotary_factor 1.0 when absent)
    "sarvam_moe": (_entry(deepseek, "glm4_moe"), {
        "vocab_size": 262144, "hidden_size": 4096, "intermediate_size": 8192,
        "num_hidden_layers": 19, "num_attention_heads": 64, "num_key_value_heads": 4,
        "head_dim": 64, "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "attention_bias": False, "moe_intermediate_size": 1024,
        "num_experts_per_tok": 6, "n_shared_experts": 1, "n_routed_experts": 128,
        "routed_scaling_factor": 2.5, "n_group": 1, "topk_group": 1,
        "first_k_dense_replace": 1, "norm_topk_prob": True, "use_qk_norm": True,
        "partial_rotary_factor": 1.0}),
    "param2moe": (_entry(deepseek, "glm4_moe"), {
        "vocab_size": 128000, "hidden_size": 2048, "intermediate_size": 9216,
        "num_hidden_layers": 21, "num_attention_heads": 32, "num_key_value_heads": 8,
        "head_dim": 64, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True, "attention_bias": False, "moe_intermediate_size": 2048,
        "num_experts_per_tok": 6, "n_shared_experts": 2, "n_routed_experts": 64,
        "routed_scaling_factor": 2.5, "n_group": 1, "topk_group": 1,
        "first_k_dense_replace": 1, "norm_topk_prob": True, "use_qk_norm": True,
        "partial_rotary_factor": 1.0}),
}


def _llama_defaults(**changes: Any) -> dict[str, Any]:
    return {**llama.LLAMA_DEFAULTS, **changes}


def _square_output(read: Reader) -> Reader:
    """Helium's output projection maps hidden_size to hidden_size: the closed form's (heads x
    head_dim to hidden_size) only where the two are equal."""
    def checked(c: Mapping[str, Any]) -> Config:
        out = read(c)
        if out["n_head"] * out["d_head"] != out["d_model"]:
            raise UnsupportedConfigError(
                f"head_dim {out['d_head']} x num_attention_heads {out['n_head']} is not "
                f"hidden_size {out['d_model']}: this class's output projection is "
                f"hidden_size wide, which zoo does not express")
        return out
    return checked


def _llama_like(defaults: Mapping[str, Any], **fixed: Any) -> Reader:
    return lambda c: read_llama_like(c, defaults, **fixed)


def _keys(defaults: Mapping[str, Any], **fields: str) -> Reader:
    """LLaMA's reading with spec fields taken from this class's own keys (Seed-OSS's
    attention_out_bias)."""
    def read(c: Mapping[str, Any]) -> Config:
        c = with_defaults(c, defaults)
        return read_llama_like(c, defaults, **{f: c.get(k) for f, k in fields.items()})
    return read


def _fairseq_like(c: Mapping[str, Any], *, layers: str, width: str, heads: str, ffn: str,
                  act: str, context: str, **fixed: Any) -> Config:
    """The fairseq-style decoders (XGLM, BioGPT, CTRL): LayerNorm before each sublayer and at
    the end, biases everywhere, a plain two-layer MLP; `fixed` says how positions are made."""
    return dict(n_layer=get(c, layers), d_model=get(c, width), n_head=get(c, heads),
                d_ff=get(c, ffn), vocab_size=get(c, "vocab_size"),
                context_length=get(c, context), norm="layernorm",
                activation=activation(c.get(act, "gelu"), act), bias=True,
                tie_embeddings=c.get("tie_word_embeddings", True), **fixed)


def _xglm(c: Mapping[str, Any]) -> Config:
    # sinusoidal positions: no parameters
    c = with_defaults(c, {"vocab_size": 256008, "max_position_embeddings": 2048,
                          "d_model": 1024, "ffn_dim": 4096, "num_layers": 24,
                          "attention_heads": 16, "activation_function": "gelu",
                          "tie_word_embeddings": True})
    return _fairseq_like(c, layers="num_layers", width="d_model", heads="attention_heads",
                         ffn="ffn_dim", act="activation_function",
                         context="max_position_embeddings", position="none")


def _biogpt(c: Mapping[str, Any]) -> Config:
    # learned positions, two past the context (OPT's offset)
    c = with_defaults(c, {"vocab_size": 42384, "hidden_size": 1024, "num_hidden_layers": 24,
                          "num_attention_heads": 16, "intermediate_size": 4096,
                          "hidden_act": "gelu", "max_position_embeddings": 1024,
                          "tie_word_embeddings": True})
    return _fairseq_like(c, layers="num_hidden_layers", width="hidden_size",
                         heads="num_attention_heads", ffn="intermediate_size", act="hidden_act",
                         context="max_position_embeddings", position="learned",
                         position_offset=2)


def _ctrl(c: Mapping[str, Any]) -> Config:
    # sinusoidal positions, a ReLU MLP, and a bias on the (tied) output head
    c = with_defaults(c, {"vocab_size": 246534, "n_positions": 256, "n_embd": 1280,
                          "dff": 8192, "n_layer": 48, "n_head": 16,
                          "tie_word_embeddings": True})
    return _fairseq_like({**c, "ctrl_act": "relu"}, layers="n_layer", width="n_embd",
                         heads="n_head", ffn="dff", act="ctrl_act", context="n_positions",
                         position="none", head_bias=True)


def _mpt(c: Mapping[str, Any]) -> Config:
    """MosaicML's MPT as transformers builds it: ALiBi, no biases, LayerNorms without a bias
    (counted as weight-only norms), an MLP of 4 x d_model whatever the config says, which a
    config saying otherwise is refused for."""
    c = with_defaults(c, {"d_model": 2048, "n_heads": 16, "n_layers": 24, "max_seq_len": 2048,
                          "vocab_size": 50368, "tie_word_embeddings": True})
    for key, built in (("expansion_ratio", 4), ("no_bias", True)):
        if c.get(key, built) != built:
            raise UnsupportedConfigError(f"{key} {c[key]!r}: transformers' MptForCausalLM "
                                         f"builds {built!r} whatever the config says")
    d = get(c, "d_model")
    return dict(n_layer=get(c, "n_layers"), d_model=d, n_head=get(c, "n_heads"), d_ff=4 * d,
                vocab_size=get(c, "vocab_size"), context_length=get(c, "max_seq_len"),
                position="alibi", norm="rmsnorm", activation="gelu", bias=False,
                tie_embeddings=c.get("tie_word_embeddings", True))


def _latent_dense(defaults: Mapping[str, Any]) -> Reader:
    """A dense decoder with DeepSeek's latent attention (MiniCPM3, Youtu): mlp_bias on the
    gated MLP's three projections; v_head_dim null means hidden_size / heads (MiniCPM3's
    class), num_key_value_heads null as many as the heads."""
    def read(c: Mapping[str, Any]) -> Config:
        c = with_defaults(c, defaults)
        heads = get(c, "num_attention_heads")
        c = {**c, "v_head_dim": get(c, "v_head_dim",
                                    default=get(c, "hidden_size") // heads)}
        return {**deepseek.read_latent_dense(c), "mlp_bias": bool(c.get("mlp_bias", False))}
    return read


def _mlp_layer_types(c: Mapping[str, Any], default_dense: int) -> int:
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


def _glm4_moe_lite(c: Mapping[str, Any]) -> Config:
    """GLM-4.7-Flash: DeepSeek-V3's latent attention and routing (sigmoid scores, a
    selection-only bias, groups), MoE after one dense layer unless mlp_layer_types says."""
    c = with_defaults(c, {
        "vocab_size": 154880, "hidden_size": 2048, "intermediate_size": 10240,
        "moe_intermediate_size": 1536, "num_hidden_layers": 47, "num_attention_heads": 20,
        "num_key_value_heads": 20, "n_shared_experts": 1, "n_routed_experts": 64,
        "routed_scaling_factor": 1.8, "kv_lora_rank": 512, "q_lora_rank": 768,
        "qk_rope_head_dim": 64, "v_head_dim": 256, "qk_nope_head_dim": 192, "n_group": 1,
        "topk_group": 1, "num_experts_per_tok": 4, "norm_topk_prob": True,
        "hidden_act": "silu", "max_position_embeddings": 202752, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "rope_interleave": True, "attention_bias": False})
    dense = _mlp_layer_types(c, 1)
    return {**deepseek.read_deepseek_v3({**c, "first_k_dense_replace": dense})}


def _phimoe(c: Mapping[str, Any]) -> Config:
    """Phi-3.5-MoE: Mixtral's experts (the MLP's width each) under LayerNorms with a bias,
    attention_bias on q, k, v and the output, lm_head_bias on the head; routed by sparsemixer,
    which zoo's decoder does not compute."""
    c = defaults_under(c, {
        "vocab_size": 32064, "hidden_size": 4096, "intermediate_size": 6400,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "hidden_act": "silu", "max_position_embeddings": 4096 * 32, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "num_experts_per_tok": 2, "num_local_experts": 16,
        "attention_bias": False, "lm_head_bias": False})
    bias = bool(c["attention_bias"])
    out = read_llama_like(c, norm="layernorm", qkv_bias=bias, attn_out_bias=bias,
                          mlp_bias=False, head_bias=bool(c["lm_head_bias"]),
                          n_experts=get(c, "num_local_experts"),
                          experts_per_token=get(c, "num_experts_per_tok"))
    if c.get("sliding_window") is not None:
        out.update(attention_pattern=["local"], local_window=c["sliding_window"])
    return out


def _nanochat(c: Mapping[str, Any]) -> Config:
    """nanochat: RMSNorms without a weight (before each sublayer, on q and k, at the end), a
    two-matrix relu2 MLP, no biases unless attention_bias (on q, k, v and the output)."""
    c = with_defaults(c, {
        "vocab_size": 50304, "hidden_size": 768, "intermediate_size": 8192,
        "num_hidden_layers": 12, "num_attention_heads": 6, "num_key_value_heads": None,
        "max_position_embeddings": 2048, "hidden_act": "relu2", "rms_norm_eps": 1e-6,
        "attention_bias": False, "tie_word_embeddings": False})
    bias = bool(c["attention_bias"])
    return read_llama_like(c, norm="nonparametric_layernorm", activation="relu",
                           qkv_bias=bias, attn_out_bias=bias, mlp_bias=False)


GRANITE_SWA_DEFAULTS = {
    "vocab_size": 100352, "hidden_size": 2560, "intermediate_size": 8192,
    "num_hidden_layers": 24, "num_attention_heads": 20, "num_key_value_heads": 4,
    "hidden_act": "silu", "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
    "embedding_multiplier": 1.0, "logits_scaling": 1.0, "residual_multiplier": 1.0,
    "attention_multiplier": 1.0}


def _granite_swa(c: Mapping[str, Any]) -> Config:
    """Granite with a learned sink logit per head in every layer (sliding windows and
    per-layer rotary bases, NoPE where 0, change no count); attention_bias on q, k, v and the
    output, mlp_bias on the MLP."""
    c = with_defaults(c, GRANITE_SWA_DEFAULTS)
    bias = bool(c["attention_bias"])
    return read_llama_like(
        c, qkv_bias=bias, attn_out_bias=bias, mlp_bias=bool(c["mlp_bias"]),
        attention_sinks=True, embedding_multiplier=float(c["embedding_multiplier"]),
        residual_multiplier=float(c["residual_multiplier"]),
        attention_multiplier=float(c["attention_multiplier"]),
        logit_scale=1.0 / float(c["logits_scaling"]))


def _granitemoe_swa(c: Mapping[str, Any]) -> Config:
    """Granite MoE Shared (GraniteMoeConfig's defaults) with a learned sink logit per head."""
    return {**granitemoe.read_granitemoeshared(c), "attention_sinks": True}


def _sigmoid_routed(c: Mapping[str, Any], *, experts: str, shared: str | None, scaling: str,
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


def _exaone_moe(c: Mapping[str, Any]) -> Config:
    """K-EXAONE: EXAONE 4's attention (QK-norm over each head, no biases) before
    DeepSeek-V3's routed and shared experts, dense first layers as first_k_dense_replace or
    mlp_layer_types say; the sliding windows change no count."""
    c = with_defaults(c, {
        "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 16384,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
        "hidden_act": "silu", "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "first_k_dense_replace": 1,
        "moe_intermediate_size": 1024, "num_experts": 64, "num_experts_per_tok": 8,
        "num_shared_experts": 1, "norm_topk_prob": True, "routed_scaling_factor": 2.5,
        "n_group": 1, "topk_group": 1})
    out = read_llama_like(c, qk_norm="head", qkv_bias=False, attn_out_bias=False,
                          mlp_bias=False)
    return {**out, **_sigmoid_routed(c, experts="num_experts", shared="num_shared_experts",
                                     scaling="routed_scaling_factor"),
            "first_dense_layers": _mlp_layer_types(c, get(c, "first_k_dense_replace"))}


def _solar_open(c: Mapping[str, Any]) -> Config:
    """Solar Open: GLM-4.5's layer (q, k, v biases with attention_bias, none on the output)
    with its whole head rotated, no QK-norm, and a mixture in every layer (its class has no
    dense MLP: intermediate_size is not read)."""
    c = with_defaults(c, {
        "vocab_size": 196608, "hidden_size": 4096, "num_hidden_layers": 48,
        "num_attention_heads": 64, "num_key_value_heads": 8, "hidden_act": "silu",
        "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
        "attention_bias": False, "moe_intermediate_size": 1280, "num_experts_per_tok": 8,
        "n_shared_experts": 1, "n_routed_experts": 128, "routed_scaling_factor": 1.0,
        "n_group": 1, "topk_group": 1, "norm_topk_prob": True, "head_dim": 128,
        "partial_rotary_factor": 1.0})
    return deepseek.read_glm4_moe({**c, "first_k_dense_replace": 0, "use_qk_norm": False,
                                   "intermediate_size": get(c, "moe_intermediate_size")})


def _hy_v3(c: Mapping[str, Any]) -> Config:
    """Hunyuan 3: QK-norm over each head, attention_bias on q, k, v and the output, dense
    first layers (one unless mlp_layer_types says), then routed experts by sigmoid scores
    with a selection-only bias, renormalised and scaled, and a shared MLP. mlp_bias (on the
    dense and shared MLPs, not the experts) is refused by name."""
    c = with_defaults(c, {
        "vocab_size": 120832, "hidden_size": 4096, "intermediate_size": 13312,
        "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
        "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "attention_bias": False,
        "mlp_bias": False, "num_experts": 192, "num_experts_per_tok": 8,
        "num_shared_experts": 1, "moe_intermediate_size": 1536,
        "router_scaling_factor": 2.826})
    if c["mlp_bias"]:
        raise UnsupportedConfigError("hy_v3 with mlp_bias true (biases on the dense and shared "
                                     "MLPs, not the experts) is not supported")
    bias = bool(c["attention_bias"])
    out = read_llama_like(c, qk_norm="head", qkv_bias=bias, attn_out_bias=bias,
                          mlp_bias=False)
    return {**out, **_sigmoid_routed(c, experts="num_experts", shared="num_shared_experts",
                                     scaling="router_scaling_factor", groups=False),
            "first_dense_layers": _mlp_layer_types(c, 1)}


def _cohere2_moe(c: Mapping[str, Any]) -> Config:
    """Command A's MoE: Cohere 2's parallel block (one norm per layer: an RMSNorm where
    rms_norm_eps is set, else a LayerNorm without bias; attention_bias on q, k, v and the
    output), experts intermediate_size wide, num_shared_experts x that as one shared MLP, and
    dense first layers (first_k_dense_replace or mlp_layer_types) of
    prefix_dense_intermediate_size."""
    c = with_defaults(c, {
        "vocab_size": 256000, "hidden_size": 8192, "intermediate_size": 22528,
        "num_hidden_layers": 40, "num_attention_heads": 64, "num_key_value_heads": None,
        "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 8192,
        "layer_norm_eps": 1e-5, "tie_word_embeddings": True, "attention_bias": False,
        "num_experts_per_tok": 2, "num_experts": 8, "num_shared_experts": 0,
        "expert_selection_fn": "softmax", "norm_topk_prob": True,
        "prefix_dense_intermediate_size": None, "rms_norm_eps": None,
        "logit_scale": 0.0625})
    width = get(c, "intermediate_size")
    dense = _mlp_layer_types(c, c.get("first_k_dense_replace", 0))
    rms = c["rms_norm_eps"] is not None
    bias = bool(c["attention_bias"])
    out = read_llama_like(
        {**c, "intermediate_size": get(c, "prefix_dense_intermediate_size") if dense else width,
         "rms_norm_eps": c["rms_norm_eps"] if rms else c["layer_norm_eps"]},
        norm="rmsnorm" if rms else "layernorm", block="parallel",
        qkv_bias=bias, attn_out_bias=bias, mlp_bias=False, n_experts=get(c, "num_experts"),
        experts_per_token=get(c, "num_experts_per_tok"), d_ff_expert=width,
        first_dense_layers=dense, logit_scale=float(c["logit_scale"]),
        router_scoring="sigmoid" if c["expert_selection_fn"] == "sigmoid" else "softmax",
        router_normalize=c["expert_selection_fn"] == "softmax" or bool(c["norm_topk_prob"]))
    if not rms:
        out["norm_bias"] = False
    shared = get(c, "num_shared_experts")
    return {**out, "n_shared_experts": shared, "d_ff_shared": shared * width} if shared \
        else out


def _flex_olmo(c: Mapping[str, Any]) -> Config:
    """FlexOlmo: OLMoE's attention (an RMSNorm over all of q and over all of k) and experts
    (intermediate_size wide) in OLMo 2's block (a norm on each sublayer's output)."""
    c = with_defaults(c, {
        "vocab_size": 100352, "hidden_size": 4096, "intermediate_size": 11008,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": None,
        "hidden_act": "silu", "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "attention_bias": False, "num_experts_per_tok": 5,
        "num_experts": 7, "norm_topk_prob": False})
    bias = bool(c["attention_bias"])
    return read_llama_like(c, qk_norm="projection", norm_position="output", qkv_bias=bias,
                           attn_out_bias=bias, mlp_bias=False, n_experts=get(c, "num_experts"),
                           experts_per_token=get(c, "num_experts_per_tok"),
                           router_normalize=bool(c["norm_topk_prob"]))


def _afmoe(c: Mapping[str, Any]) -> Config:
    """AFMoE (Arcee Trinity): QK-norm over each head, the attention output gated by a
    projection as wide as q, norms before and after each sublayer, num_dense_layers dense
    first layers, then routed experts by sigmoid scores with a selection bias that is a
    parameter (expert_bias), and a shared MLP of num_shared_experts x the expert width.
    attention_bias (on q, k, v and the output, not the gate) is refused by name."""
    c = with_defaults(c, {
        "vocab_size": 200192, "hidden_size": 2048, "intermediate_size": 6144,
        "moe_intermediate_size": 1408, "num_hidden_layers": 32, "num_dense_layers": 1,
        "num_attention_heads": 16, "num_key_value_heads": None, "head_dim": 128,
        "hidden_act": "silu", "max_position_embeddings": 16384, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "num_experts": 64, "num_experts_per_tok": 6,
        "num_shared_experts": 2, "route_scale": 1.0, "attention_bias": False})
    if c["attention_bias"]:
        raise UnsupportedConfigError("afmoe with attention_bias true (biases on q, k, v and "
                                     "the output, none on the gate) is not supported")
    out = read_llama_like(c, qk_norm="head", norm_position="sandwich",
                          attention_output_gate=True, qkv_bias=False, attn_out_bias=False,
                          mlp_bias=False)
    return {**out, **_sigmoid_routed(c, experts="num_experts", shared="num_shared_experts",
                                     scaling="route_scale", groups=False),
            "routing_bias_parameter": True, "first_dense_layers": get(c, "num_dense_layers")}


def _apertus(defaults: Mapping[str, Any]) -> Reader:
    """Apertus: a two-matrix MLP (up, down) whose xIELU activation learns two scalars (another
    hidden_act has none), QK-norm over each head, attention_bias on q, k, v and the output;
    output_vocab_size (Apertus 1.5's head narrower or wider than the embedding) is refused by
    name."""
    def read(c: Mapping[str, Any]) -> Config:
        c = with_defaults(c, defaults)
        if c.get("output_vocab_size") not in (None, c["vocab_size"]):
            raise UnsupportedConfigError(f"output_vocab_size {c['output_vocab_size']} (a head "
                                         f"of another width than the embedding) is not "
                                         f"supported")
        act = c["hidden_act"]
        bias = bool(c["attention_bias"])
        return read_llama_like(c, qk_norm="head", qkv_bias=bias, attn_out_bias=bias,
                               mlp_bias=False, activation="xielu" if act == "xielu"
                               else activation(act, "hidden_act"))
    return read


APERTUS_DEFAULTS = {
    "vocab_size": 131072, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": None,
    "hidden_act": "xielu", "max_position_embeddings": 65536, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False, "attention_bias": False,
    # ApertusConfig's rope when the config has none
    "rope_parameters": {"rope_type": "llama3", "rope_theta": 12000000.0, "factor": 8.0,
                        "original_max_position_embeddings": 8192, "low_freq_factor": 1.0,
                        "high_freq_factor": 4.0}}


def _bitnet(c: Mapping[str, Any]) -> Config:
    """BitNet b1.58: LLaMA's layer with an RMSNorm over the attention's output before o_proj
    and one over the MLP's hidden before down_proj (ternary weights are a quantisation, not a
    count); attention_bias on q, k, v and the output."""
    c = with_defaults(c, {
        "vocab_size": 128256, "hidden_size": 2560, "intermediate_size": 6912,
        "num_hidden_layers": 30, "num_attention_heads": 20, "num_key_value_heads": 5,
        "hidden_act": "relu2", "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "attention_bias": False})
    bias = bool(c["attention_bias"])
    return read_llama_like(c, sub_norms=True, qkv_bias=bias, attn_out_bias=bias,
                           mlp_bias=False)


def _diffllama(c: Mapping[str, Any]) -> Config:
    """DiffLlama: LLaMA's layer with differential attention (four learned head_dim vectors per
    layer; its group norm has no weight); attention_bias on q, k, v and the output."""
    c = with_defaults(c, {
        "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 8192,
        "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": None,
        "hidden_act": "silu", "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "attention_bias": False, "head_dim": None})
    bias = bool(c["attention_bias"])
    return read_llama_like(c, differential_attention=True, qkv_bias=bias,
                           attn_out_bias=bias, mlp_bias=False)


def _persimmon(c: Mapping[str, Any]) -> Config:
    """Persimmon: LayerNorms with biases, biases on every projection, heads of hidden_size /
    num_attention_heads (a head_dim key is not read) with qk_layernorm's LayerNorm (with bias)
    over each head, half of each head rotated unless partial_rotary_factor says, a two-matrix
    MLP."""
    c = with_defaults(c, {
        "vocab_size": 262144, "hidden_size": 4096, "intermediate_size": 16384,
        "num_hidden_layers": 36, "num_attention_heads": 64, "hidden_act": "relu2",
        "max_position_embeddings": 16384, "layer_norm_eps": 1e-5,
        "tie_word_embeddings": False, "qk_layernorm": True})
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    act = c["hidden_act"]
    rope = read_rope(c, 0.5)
    out = dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
               d_head=d // heads, d_ff=get(c, "intermediate_size"),
               vocab_size=get(c, "vocab_size"), context_length=get(c, "max_position_embeddings"),
               position="rotary", **rope, norm="layernorm", norm_eps=get(c, "layer_norm_eps"),
               activation="relu" if act == "relu2" else activation(act, "hidden_act"),
               bias=True, qk_norm="head_layernorm" if c["qk_layernorm"] else "none",
               tie_embeddings=bool(c["tie_word_embeddings"]))
    return out


def _glm_moe_dsa(c: Mapping[str, Any]) -> Config:
    """GLM-5: DeepSeek-V3.2's latent attention with its indexer and routed experts (dense
    first layers as first_k_dense_replace or mlp_layer_types say). A layer whose
    indexer_types entry is "shared" reuses an earlier layer's choice and has no indexer of its
    own, which zoo does not express: refused by name. mlp_bias is not read by its class."""
    c = with_defaults(c, {
        "vocab_size": 154880, "hidden_size": 6144, "intermediate_size": 12288,
        "moe_intermediate_size": 2048, "num_hidden_layers": 78, "num_attention_heads": 64,
        "num_key_value_heads": 64, "n_shared_experts": 1, "n_routed_experts": 256,
        "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 2048,
        "qk_rope_head_dim": 64, "v_head_dim": 256, "qk_nope_head_dim": 192, "n_group": 1,
        "topk_group": 1, "num_experts_per_tok": 8, "norm_topk_prob": True,
        "hidden_act": "silu", "max_position_embeddings": 202752, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "attention_bias": False, "index_topk": 2048,
        "index_head_dim": 128, "index_n_heads": 32, "first_k_dense_replace": 3})
    types = c.get("indexer_types")
    if types is not None and any(kind != "full" for kind in types):
        raise UnsupportedConfigError("indexer_types with 'shared' layers (no indexer of their "
                                     "own) are not supported")
    if types is None and (c.get("index_topk_pattern") is not None
                          or c.get("index_topk_freq", 1) > 1):
        raise UnsupportedConfigError("index_topk_pattern / index_topk_freq (layers sharing an "
                                     "earlier layer's indexer) are not supported")
    dense = _mlp_layer_types(c, min(get(c, "first_k_dense_replace"),
                                    get(c, "num_hidden_layers")))
    return deepseek.read_deepseek_v32({**c, "mlp_layer_types": None,
                                       "first_k_dense_replace": dense})


def _gpt_neox_japanese(c: Mapping[str, Any]) -> Config:
    """GPT-NeoX Japanese: LayerNorms with biases, a fused qkv and an output projection without
    biases but for the last layer's output bias, an MLP of intermediate_multiple_size x
    hidden_size without biases, its head tied unless the config says."""
    c = with_defaults(c, {
        "vocab_size": 32000, "hidden_size": 2560, "num_hidden_layers": 32,
        "num_attention_heads": 32, "intermediate_multiple_size": 4, "hidden_act": "gelu",
        "max_position_embeddings": 2048, "layer_norm_eps": 1e-5, "tie_word_embeddings": True})
    d = get(c, "hidden_size")
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=d,
                n_head=get(c, "num_attention_heads"),
                d_ff=int(d * get(c, "intermediate_multiple_size")),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                **read_rope(c), norm="layernorm", norm_eps=get(c, "layer_norm_eps"),
                activation=activation(c["hidden_act"], "hidden_act"), bias=False,
                last_attn_out_bias=True, tie_embeddings=bool(c["tie_word_embeddings"]))


def _mimo_v2_flash(c: Mapping[str, Any]) -> Config:
    """MiMo-V2-Flash: full attention on the first layer and every sixth, sliding windows
    elsewhere with twice the key/value heads and a learned sink per head, value heads of
    v_head_dim (narrower than the q/k heads), attention_bias on q, k and v; a dense first layer
    (or as mlp_layer_types says), then DeepSeek-V3's routing without shared experts. Its rope
    per layer type (a third of each head rotated) changes no count."""
    c = with_defaults(c, {
        "vocab_size": 152576, "hidden_size": 4096, "intermediate_size": 16384,
        "num_hidden_layers": 48, "num_attention_heads": 64, "num_key_value_heads": 4,
        "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "attention_bias": False, "moe_intermediate_size": 2048,
        "num_experts_per_tok": 8, "n_routed_experts": 256, "routed_scaling_factor": 1.0,
        "n_group": 1, "topk_group": 1, "norm_topk_prob": True, "head_dim": 192,
        "v_head_dim": 128, "sliding_window": 129})
    layers, kv = get(c, "num_hidden_layers"), get(c, "num_key_value_heads")
    types = c.get("layer_types") or [
        "full_attention" if i == 0 or not (i + 1) % 6 else "sliding_attention"
        for i in range(layers)]
    if len(types) != layers:
        raise UnsupportedConfigError(f"layer_types has {len(types)} entries for "
                                     f"num_hidden_layers {layers}")
    rope = c.get("rope_parameters") or {}
    full = rope.get("full_attention", rope) if isinstance(rope, Mapping) else {}
    params = {"rope_type": "default", "rope_theta": 5_000_000.0,
              "partial_rotary_factor": 0.334, **full}
    bias = bool(c["attention_bias"])
    if c["routed_scaling_factor"] is None:  # the published config's: its class multiplies
        c = {**c, "routed_scaling_factor": 1.0}  # by None when it runs; no count depends on it
    out = read_llama_like({k: v for k, v in c.items() if k != "rope_parameters"},
                          n_kv_head=2 * kv, qkv_bias=bias, attn_out_bias=False, mlp_bias=False,
                          **read_rope(c, params=params))
    local = "sliding_attention" in types
    out.update(read_layer_types({"layer_types": types}, get(c, "sliding_window")))
    if "full_attention" in types and local:
        out["global_kv_heads"] = kv
    elif not local:
        out["n_kv_head"] = kv
    return {**out, **_sigmoid_routed(c, experts="n_routed_experts", shared=None,
                                     scaling="routed_scaling_factor"),
            "d_head_v": get(c, "v_head_dim"), "local_sinks": local,
            "first_dense_layers": _mlp_layer_types(c, 1)}


def _laguna(c: Mapping[str, Any]) -> Config:
    """Laguna: QK-norm over each head, the attention output gated per head (gating true or
    "per-head") or per query dim by a projection without bias, attention_bias on q, k, v and
    the output; a dense first layer (or as mlp_layer_types says), then experts routed by
    sigmoid scores with a selection bias that is a parameter, beside a shared MLP of
    shared_expert_intermediate_size. num_attention_heads_per_layer must give every layer the
    same heads."""
    c = with_defaults(c, {
        "vocab_size": 100352, "hidden_size": 2048, "intermediate_size": 8192,
        "num_hidden_layers": 40, "num_attention_heads": 48, "num_key_value_heads": 8,
        "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "sliding_window": 512, "moe_intermediate_size": 512,
        "shared_expert_intermediate_size": 512, "num_experts_per_tok": 8, "num_experts": 256,
        "head_dim": 128, "attention_bias": False, "gating": True,
        "moe_routed_scaling_factor": 1.0})
    heads = get(c, "num_attention_heads")
    per_layer = c.get("num_attention_heads_per_layer")
    if per_layer:
        if len(set(per_layer)) != 1:
            raise UnsupportedConfigError("num_attention_heads_per_layer with layers of "
                                         "different head counts is not supported")
        heads = per_layer[0]
    per_head = c["gating"] is True or c["gating"] == "per-head"
    bias = bool(c["attention_bias"])
    if bias and not per_head:
        raise UnsupportedConfigError("laguna with attention_bias true and a gate per query "
                                     "dim (none on the gate) is not supported")
    d = get(c, "hidden_size")
    rope = c.get("rope_parameters") or {}
    full = rope.get("full_attention", rope) if isinstance(rope, Mapping) else {}
    params = {"rope_type": "default", "rope_theta": 500000.0, "partial_rotary_factor": 0.5,
              **full}
    out = read_llama_like({k: v for k, v in c.items() if k != "rope_parameters"},
                          n_head=heads, d_head=get(c, "head_dim", default=d // get(
                              c, "num_attention_heads")),
                          qk_norm="head", qkv_bias=bias, attn_out_bias=bias, mlp_bias=False,
                          attention_head_gate=per_head, attention_output_gate=not per_head,
                          **read_rope(c, params=params))
    out.update(read_layer_types(c, get(c, "sliding_window", default=None)))
    shared = get(c, "shared_expert_intermediate_size")
    return {**out, **_sigmoid_routed(c, experts="num_experts", shared=None,
                                     scaling="moe_routed_scaling_factor", groups=False),
            "routing_bias_parameter": True, "first_dense_layers": _mlp_layer_types(c, 1),
            **({"n_shared_experts": 1, "d_ff_shared": shared} if shared else {})}


def _doge(c: Mapping[str, Any]) -> Config:
    """Doge: QK-norm over each head, a dynamic mask (a decay per key/value head and a step
    projected from the values), a learned scale on each residual, attention_bias on q, k, v,
    the output and the step, mlp_bias on the gated MLP. is_moe (its cross-domain MoE: experts
    as embedding rows found by product keys) is refused by name."""
    c = with_defaults(c, {
        "vocab_size": 32768, "hidden_size": 1024, "intermediate_size": 2048,
        "num_hidden_layers": 32, "hidden_act": "silu", "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "max_position_embeddings": 2048,
        "num_attention_heads": 8, "num_key_value_heads": None, "attention_bias": False,
        "mlp_bias": False, "is_moe": False})
    if c["is_moe"]:
        raise UnsupportedConfigError("doge with is_moe true (experts as embedding rows chosen "
                                     "by product keys) is not supported")
    bias = bool(c["attention_bias"])
    return read_llama_like(c, qk_norm="head", qkv_bias=bias, attn_out_bias=bias,
                           mlp_bias=bool(c["mlp_bias"]), dynamic_mask=True,
                           residual_scales=True)


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "helium": ("HeliumForCausalLM", "llama", _square_output(_llama_like(_llama_defaults(
        vocab_size=48000, hidden_size=2560, intermediate_size=7040, num_hidden_layers=24,
        num_attention_heads=20, num_key_value_heads=20, head_dim=128,
        max_position_embeddings=4096)))),
    "cwm": ("CwmForCausalLM", "llama", _llama_like(_llama_defaults(
        vocab_size=128256, hidden_size=6144, intermediate_size=21504, num_hidden_layers=64,
        num_attention_heads=48, num_key_value_heads=8, head_dim=128,
        max_position_embeddings=131072), qkv_bias=False, attn_out_bias=False)),
    "ministral3": ("Ministral3ForCausalLM", "mistral", _llama_like(_llama_defaults(
        vocab_size=131072, hidden_size=4096, intermediate_size=14336, num_hidden_layers=34,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128,
        max_position_embeddings=262144), qkv_bias=False, attn_out_bias=False,
        mlp_bias=False)),
    "exaone4": ("Exaone4ForCausalLM", "olmo2", _llama_like(_llama_defaults(
        vocab_size=102400, hidden_size=4096, intermediate_size=16384, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=32), norm_position="output",
        qk_norm="head", qkv_bias=False, attn_out_bias=False, mlp_bias=False)),
    "hyperclovax": ("HyperCLOVAXForCausalLM", "gemma2", _llama_like(
        llama.LLAMA_DEFAULTS, norm_position="sandwich")),
    "jais2": ("Jais2ForCausalLM", "gpt2", _llama_like(_llama_defaults(
        vocab_size=150272, hidden_size=3328, intermediate_size=26624, num_attention_heads=26,
        max_position_embeddings=8192, hidden_act="relu2", attention_bias=True,
        mlp_bias=True), norm="layernorm", activation="relu")),
    "olmo3": ("Olmo3ForCausalLM", "olmo2", _llama_like(_llama_defaults(
        vocab_size=50304), norm_position="output", qk_norm="projection", mlp_bias=False)),
    "seed_oss": ("SeedOssForCausalLM", "qwen2", _keys(_llama_defaults(
        vocab_size=155136, hidden_size=4096, intermediate_size=27648, num_hidden_layers=64,
        num_attention_heads=80, num_key_value_heads=8, head_dim=128,
        max_position_embeddings=524288, attention_bias=True, attention_out_bias=False),
        qkv_bias="attention_bias", attn_out_bias="attention_out_bias")),
    "vaultgemma": ("VaultGemmaForCausalLM", "gemma2", _llama_like(_llama_defaults(
        vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
        num_attention_heads=8, num_key_value_heads=4, head_dim=256,
        max_position_embeddings=8192, tie_word_embeddings=True), mlp_bias=False)),
    "arcee": ("ArceeForCausalLM", "llama", _llama_like(_llama_defaults(
        hidden_size=2560, intermediate_size=18432, max_position_embeddings=4096,
        hidden_act="relu2"), activation="relu")),
    "mellum": ("MellumForCausalLM", "qwen3_moe", _with_defaults(moe.read_qwen3_moe, {
        "vocab_size": 98304, "hidden_size": 2304, "intermediate_size": 7168,
        "num_hidden_layers": 28, "num_attention_heads": 32, "num_key_value_heads": 4,
        "head_dim": 128, "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
        "moe_intermediate_size": 896, "num_experts_per_tok": 8, "num_experts": 64,
        "norm_topk_prob": True})),
    # GPT-J's shapes; its fused qkv is laid out in model-parallel groups zoo does not unpack
    "codegen": ("CodeGenForCausalLM", "gptj", _with_defaults(gptj.read, {
        "vocab_size": 50400, "n_positions": 2048, "n_embd": 4096, "n_layer": 28, "n_head": 16,
        "rotary_dim": 64, "activation_function": "gelu_new", "tie_word_embeddings": False})),
    "xglm": ("XGLMForCausalLM", "opt", _xglm),
    "biogpt": ("BioGptForCausalLM", "opt", _biogpt),
    "ctrl": ("CTRLLMHeadModel", "gpt2", _ctrl),
    "mpt": ("MptForCausalLM", "bloom", _mpt),
    # residual and embedding scales aside, DeepSeek's latent attention before a dense MLP
    "minicpm3": ("MiniCPM3ForCausalLM", "deepseek_v3", _latent_dense({
        "vocab_size": 73448, "hidden_size": 2560, "intermediate_size": 6400,
        "num_hidden_layers": 62, "num_attention_heads": 40, "num_key_value_heads": 40,
        "hidden_act": "silu", "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
        "kv_lora_rank": 256, "q_lora_rank": 768, "qk_nope_head_dim": 64,
        "qk_rope_head_dim": 32, "v_head_dim": None})),
    "youtu": ("YoutuForCausalLM", "deepseek_v3", _latent_dense({
        "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 6144,
        "num_hidden_layers": 32, "num_attention_heads": 16, "num_key_value_heads": 16,
        "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "v_head_dim": 128,
        "qk_nope_head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "attention_bias": False})),
    "glm4_moe_lite": ("Glm4MoeLiteForCausalLM", "deepseek_v3", _glm4_moe_lite),
    "phimoe": ("PhimoeForCausalLM", "mixtral", _phimoe),
    "doge": ("DogeForCausalLM", "qwen3", _doge),
    "laguna": ("LagunaForCausalLM", "qwen3_next", _laguna),
    "mimo_v2_flash": ("MiMoV2FlashForCausalLM", "gpt_oss", _mimo_v2_flash),
    "gpt_neox_japanese": ("GPTNeoXJapaneseForCausalLM", "gpt_neox", _gpt_neox_japanese),
    "glm_moe_dsa": ("GlmMoeDsaForCausalLM", "deepseek_v32", _glm_moe_dsa),
    "apertus": ("ApertusForCausalLM", "qwen3", _apertus(APERTUS_DEFAULTS)),
    "apertus1p5_text": ("Apertus1p5TextForCausalLM", "qwen3", _apertus(
        {**APERTUS_DEFAULTS, "vocab_size": 266752, "output_vocab_size": None})),
    "bitnet": ("BitNetForCausalLM", "llama", _bitnet),
    "diffllama": ("DiffLlamaForCausalLM", "llama", _diffllama),
    "persimmon": ("PersimmonForCausalLM", "stablelm", _persimmon),
    "cohere2_moe": ("Cohere2MoeForCausalLM", "cohere2", _cohere2_moe),
    "flex_olmo": ("FlexOlmoForCausalLM", "olmoe", _flex_olmo),
    "afmoe": ("AfmoeForCausalLM", "qwen3_next", _afmoe),
    "exaone_moe": ("ExaoneMoeForCausalLM", "glm4_moe", _exaone_moe),
    "solar_open": ("SolarOpenForCausalLM", "glm4_moe", _solar_open),
    "hy_v3": ("HYV3ForCausalLM", "glm4_moe", _hy_v3),
    "nanochat": ("NanoChatForCausalLM", "olmo", _nanochat),
    "granite_swa": ("GraniteSWAForCausalLM", "granite", _granite_swa),
    "granitemoe_swa": ("GraniteMoeSWAForCausalLM", "granitemoeshared", _granitemoe_swa),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures):
# last, and none of them writes a config
PRIORITY = 900
ENTRIES = (
    *(replace(entry, model_type=model_type, read=_with_defaults(entry.read, defaults),
              write=refuse_write, aliases=(), gguf=None)
      for model_type, (entry, defaults) in SAME_CLASS.items()),
    *(Architecture(model_type=model_type, hf_class=hf_class, read=read, write=refuse_write,
                   tensors={}, prefix="model.", nearest=nearest)
      for model_type, (hf_class, nearest, read) in COUNTED.items()),
)
