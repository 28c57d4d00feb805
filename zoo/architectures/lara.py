"""Translated's Lara Mini (lara_mini: Lara-4-Mini-Base), counted exactly, not built.

A hybrid of Qwen3.5's Gated DeltaNet linear attention (a recurrent state instead of keys) and
Qwen3's grouped-query attention (an RMSNorm over each q and k head, no output gate), released
with the period-5 pattern linear, sliding, linear, full, sliding: the sliding layers rotate q
and k and see sliding_window keys, the full ones have no positions at all (NoPE). Every layer's
MLP is a mixture of experts (softmax over num_experts, the top num_experts_per_tok renormalised
with norm_topk_prob) beside one shared expert of shared_expert_intermediate_size, always added,
without a gate. Plain RMSNorms (w, not Qwen3-Next's 1 + w; the count is the same); the head
tied to the embedding unless tie_word_embeddings says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    get,
    read_rope,
    shortest_period,
    with_defaults,
)
from zoo.architectures.counted import Reader, counted_entries

# transformers' LaraMiniConfig class defaults (5.25), for every key read below
DEFAULTS: Config = {
    "vocab_size": 151936, "hidden_size": 1024, "num_hidden_layers": 34,
    "num_attention_heads": 16, "num_key_value_heads": 4, "hidden_act": "silu",
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
    "attention_bias": False, "head_dim": 128, "linear_conv_kernel_dim": 4,
    "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 8,
    "linear_num_value_heads": 16, "moe_intermediate_size": 512,
    "shared_expert_intermediate_size": 512, "num_experts_per_tok": 4, "num_experts": 128,
    "norm_topk_prob": True, "layer_types": None, "sliding_window": 512,
}
# the class's layer types in zoo's words, and its released pattern (period 5)
LAYER_TYPES = {"linear_attention": "linear", "sliding_attention": "local",
               "full_attention": "global"}
RELEASED = ("linear_attention", "sliding_attention", "linear_attention", "full_attention",
            "sliding_attention")


def read_lara_mini(c: Mapping[str, Any]) -> Config:
    """Lara Mini's fields; hidden_act other than SiLU (the experts', the shared expert's and the
    DeltaNet convolution's) and an empty shared expert are refused by name."""
    c = with_defaults(c, DEFAULTS)
    if c["hidden_act"] != "silu":
        raise UnsupportedConfigError(f"lara_mini hidden_act {c['hidden_act']!r}: the experts "
                                     f"and the DeltaNet convolution here are SiLU")
    layers = get(c, "num_hidden_layers")
    types = c["layer_types"] or [RELEASED[i % len(RELEASED)] for i in range(layers)]
    if len(types) != layers or not set(types) <= set(LAYER_TYPES):
        raise UnsupportedConfigError(f"lara_mini layer_types must give one of "
                                     f"{', '.join(LAYER_TYPES)} for each of num_hidden_layers "
                                     f"{layers} layers")
    kinds = [LAYER_TYPES[t] for t in types]
    shared = get(c, "shared_expert_intermediate_size")
    if shared < 1:
        raise UnsupportedConfigError(f"lara_mini shared_expert_intermediate_size {shared}: the "
                                     f"shared expert is always built and added")
    width, bias = get(c, "moe_intermediate_size"), bool(c["attention_bias"])
    out: Config = dict(
        n_layer=layers, d_model=get(c, "hidden_size"), n_head=get(c, "num_attention_heads"),
        n_kv_head=get(c, "num_key_value_heads"), d_head=get(c, "head_dim"), d_ff=width,
        vocab_size=get(c, "vocab_size"), context_length=get(c, "max_position_embeddings"),
        norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"), qk_norm="head", activation="swiglu",
        bias=False, qkv_bias=bias, attn_out_bias=bias,
        tie_embeddings=bool(c["tie_word_embeddings"]), attention_pattern=shortest_period(kinds),
        linear_n_k_head=get(c, "linear_num_key_heads"),
        linear_n_v_head=get(c, "linear_num_value_heads"),
        linear_d_head_k=get(c, "linear_key_head_dim"),
        linear_d_head_v=get(c, "linear_value_head_dim"),
        linear_conv_kernel=get(c, "linear_conv_kernel_dim"),
        n_experts=get(c, "num_experts"), experts_per_token=get(c, "num_experts_per_tok"),
        d_ff_expert=width, n_shared_experts=1, d_ff_shared=shared, router_scoring="softmax",
        router_normalize=bool(c["norm_topk_prob"]))
    if "local" in kinds:  # rotary on the sliding layers only: the full ones are NoPE
        out.update(position="rotary", **read_rope(c), local_window=get(c, "sliding_window"),
                   rotary_pattern=shortest_period([kind == "local" for kind in kinds]))
    else:
        out["position"] = "none"
    return out


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "lara_mini": ("LaraMiniForCausalLM", "qwen3_next", read_lara_mini),
}

# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 931
ENTRIES = counted_entries(COUNTED)
