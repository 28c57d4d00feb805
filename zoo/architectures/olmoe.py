"""AI2's OLMoE (olmoe): LLaMA's block with RMSNorm over the whole q and k projections (QK-norm
before the heads are split, as OLMo 2), and every MLP a mixture of softmax-routed experts (top-k
weights not renormalised unless norm_topk_prob). AI2's FlexOlmo (flex_olmo) puts the same
attention (its q and k norms as wide as the heads' q and k, whatever head_dim) and experts in OLMo
2's block: no norm on a sublayer's input, an RMSNorm on its output (the weight multiplying in
fp32, before the cast back), rotary at 500,000 unless the config says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    defaults_under,
    get,
    norm,
)
from zoo.architectures.llama import QK_NORMS, read_llama_like, write_llama_like
from zoo.architectures.moe import ATTENTION, LAYER, OUTER, experts
from zoo.spec import ModelSpec

# OlmoeConfig's defaults for what read_olmoe reads (key/value heads: the query heads)
DEFAULTS = {"vocab_size": 50304, "hidden_size": 2048, "intermediate_size": 2048,
            "num_hidden_layers": 16, "num_attention_heads": 16,
            "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "attention_bias": False,
            "num_experts_per_tok": 8, "num_experts": 64, "norm_topk_prob": False}


def read_olmoe(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, DEFAULTS)
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    if get(c, "head_dim", default=d // heads) != d // heads:
        raise UnsupportedConfigError("OLMoE's q and k norms are as wide as hidden_size: a "
                                     "head_dim other than hidden_size / heads is not built")
    if c.get("clip_qkv") is not None:
        raise UnsupportedConfigError("clip_qkv (q, k, v clamped) is not supported")
    bias = bool(c["attention_bias"])
    return read_llama_like(c, qk_norm="projection", qkv_bias=bias, attn_out_bias=bias,
                           mlp_bias=False, norm_eps=c["rms_norm_eps"],
                           n_experts=get(c, "num_experts"),
                           experts_per_token=get(c, "num_experts_per_tok"),
                           router_normalize=bool(c["norm_topk_prob"]))


def write_olmoe(s: ModelSpec) -> Config:
    if not s.moe or (s.d_ff_expert is not None and s.d_ff_expert != s.d_ff):
        raise UnsupportedConfigError("OLMoE's experts are its MLP: d_ff wide")
    if s.has_bias("qkv") != s.has_bias("attn_out"):
        raise UnsupportedConfigError("OLMoE's attention_bias is on q, k, v and the output")
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "num_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "norm_topk_prob": s.router_normalize}


# FlexOlmoConfig's defaults for what read_flex_olmo reads (key/value heads: the query heads;
# its class's default_theta, 500,000, where neither rope_parameters nor rope_theta give one)
FLEX_OLMO = {"vocab_size": 100352, "hidden_size": 4096, "intermediate_size": 11008,
             "num_hidden_layers": 32, "num_attention_heads": 32,
             "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "attention_bias": False,
             "num_experts_per_tok": 5, "num_experts": 7, "norm_topk_prob": False,
             "rope_theta": 500000.0}


def read_flex_olmo(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, FLEX_OLMO)
    bias = bool(c["attention_bias"])
    return read_llama_like(c, qk_norm="projection", norm_position="output",
                           norm_fp32_scale=True, qkv_bias=bias, attn_out_bias=bias,
                           mlp_bias=False, norm_eps=c["rms_norm_eps"],
                           n_experts=get(c, "num_experts"),
                           experts_per_token=get(c, "num_experts_per_tok"),
                           router_normalize=bool(c["norm_topk_prob"]))


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 145
ENTRIES = (
    Architecture(model_type="olmoe", hf_class="OlmoeForCausalLM", read=read_olmoe,
                 write=write_olmoe, prefix="model.",
                 tensors={**OUTER, **ATTENTION, **QK_NORMS,
                          **experts(f"{LAYER}.mlp", "gate_proj", "up_proj", "down_proj")}),
    Architecture(model_type="flex_olmo", hf_class="FlexOlmoForCausalLM", read=read_flex_olmo,
                 write=write_olmoe, prefix="model.",
                 tensors={**{k: v for k, v in OUTER.items() if ".norm1" not in k
                             and ".norm2" not in k}, **ATTENTION, **QK_NORMS,
                          **norm("blocks.{i}.post_attn_norm", f"{LAYER}.post_attention_layernorm"),
                          **norm("blocks.{i}.post_mlp_norm",
                                 f"{LAYER}.post_feedforward_layernorm"),
                          **experts(f"{LAYER}.mlp", "gate_proj", "up_proj", "down_proj")}),
)
