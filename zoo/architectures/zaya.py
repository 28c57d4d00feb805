"""Zyphra's ZAYA1 (model_type zaya, ZayaForCausalLM: ZAYA1-8B), counted exactly, not built.

Every layer is attention then a mixture of experts. The attention is Compressed Convolutional
Attention (CCA): q and k projected as usual, then mixed over time by a depthwise causal
convolution of cca_time0 taps and one grouped by head of cca_time1 taps (both with biases) and
added back to their projections; half of each value head comes from the current token, half
from the previous one (two projections of half the kv width); q and k normalised per head
without a weight (to sqrt(head_dim)), the keys scaled by a learned factor per kv head; partial
rotary. The layers layer_types calls hybrid_sliding see sliding_window keys. The MoE's router
is an MLP: a down-projection to router_hidden_size with a bias, plus, on every layer but the
first, the previous layer's router state times a learned vector, an RMSNorm, two GELU layers
with biases and num_experts + 1 scores, the last a skip expert without weights that adds
nothing; a selection-only balancing bias (a buffer); one expert a token. Each sublayer's
output and the residual are shifted and scaled by learned vectors before their sum, the token
embedding too. Beside its keys and values, each layer keeps the convolutions' last
(cca_time0 - 1) + (cca_time1 - 1) q/k inputs and the previous token's delayed values.
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

# transformers' ZayaConfig class defaults (5.25), for every key read below
DEFAULTS: Config = {
    "vocab_size": 262272, "hidden_size": 2048, "num_hidden_layers": 40,
    "num_attention_heads": 8, "num_key_value_heads": 2, "hidden_act": "silu",
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": True,
    "rope_parameters": None, "sliding_window": None, "moe_intermediate_size": 2048,
    "num_experts_per_tok": 1, "num_experts": 16, "layer_types": None, "head_dim": 128,
    "attention_bias": False, "lm_head_bias": False, "router_hidden_size": 256,
    "cca_time0": 2, "cca_time1": 2,
}
# the class's layer types in zoo's words, and its rotary defaults per type
LAYER_TYPES = {"hybrid": "global", "hybrid_sliding": "local"}
ROPE = {"hybrid": {"rope_type": "default", "rope_theta": 5_000_000.0,
                   "partial_rotary_factor": 0.5},
        "hybrid_sliding": {"rope_type": "default", "rope_theta": 10_000.0,
                           "partial_rotary_factor": 0.5}}


def _rope(c: Mapping[str, Any], types: list[str]) -> Config:
    """Rotary from rope_parameters keyed by layer type (a top-level rope_type beside them,
    which the released config carries, is dropped as the class drops it): the full layers'
    base and scaling, the sliding layers' own base; one rotated share for both."""
    rope = c["rope_parameters"] or ROPE
    if not isinstance(rope, Mapping) or not all(isinstance(rope.get(t), Mapping)
                                                for t in set(types)):
        raise UnsupportedConfigError(f"zaya's rope_parameters must be keyed by layer type "
                                     f"({', '.join(sorted(set(types)))}), as its class reads "
                                     f"them")
    main = "hybrid" if "hybrid" in types else "hybrid_sliding"
    out = read_rope(c, params=rope[main])
    if "hybrid_sliding" in types and main == "hybrid":
        local = read_rope(c, params=rope["hybrid_sliding"], scaling=False)
        if local["rotary_fraction"] != out["rotary_fraction"]:
            raise UnsupportedConfigError(
                f"zaya's rope_parameters rotate {out['rotary_fraction']:g} of each head on "
                f"hybrid layers but {local['rotary_fraction']:g} on hybrid_sliding ones; zoo "
                f"reads one partial_rotary_factor for both")
        if local["rope_theta"] != out["rope_theta"]:
            out["local_rope_theta"] = local["rope_theta"]
    return out


def read_zaya(c: Mapping[str, Any]) -> Config:
    """ZAYA1's fields; num_experts_per_tok other than 1 (the class routes one expert a token)
    and an odd kv width (the values are two halves of it) are refused by name."""
    c = with_defaults(c, DEFAULTS)
    layers, heads = get(c, "num_hidden_layers"), get(c, "num_attention_heads")
    kv_heads, head_dim = get(c, "num_key_value_heads"), get(c, "head_dim")
    if get(c, "num_experts_per_tok") != 1:
        raise UnsupportedConfigError(f"zaya num_experts_per_tok {c['num_experts_per_tok']}: "
                                     f"its class routes one expert a token")
    if kv_heads * head_dim % 2:
        raise UnsupportedConfigError(f"zaya num_key_value_heads {kv_heads} x head_dim "
                                     f"{head_dim} is odd: its values are two halves of it")
    types = list(c["layer_types"] or ["hybrid"] * layers)
    if len(types) != layers or not set(types) <= set(LAYER_TYPES):
        raise UnsupportedConfigError(f"zaya layer_types must give one of "
                                     f"{', '.join(LAYER_TYPES)} for each of num_hidden_layers "
                                     f"{layers} layers")
    kinds = [LAYER_TYPES[t] for t in types]
    bias = bool(c["attention_bias"])
    out: Config = dict(
        n_layer=layers, d_model=get(c, "hidden_size"), n_head=heads, n_kv_head=kv_heads,
        d_head=head_dim, d_ff=get(c, "moe_intermediate_size"), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), norm="rmsnorm",
        norm_eps=get(c, "rms_norm_eps"), qk_norm="l2", activation="swiglu", bias=False,
        qkv_bias=bias, attn_out_bias=bias, tie_embeddings=bool(c["tie_word_embeddings"]),
        head_bias=bool(c["lm_head_bias"]), position="rotary", **_rope(c, types),
        attention_pattern=shortest_period(kinds),
        cca_depthwise_kernel=get(c, "cca_time0"), cca_grouped_kernel=get(c, "cca_time1"),
        residual_affine=True, n_experts=get(c, "num_experts"), experts_per_token=1,
        zero_experts=1, d_ff_expert=get(c, "moe_intermediate_size"),
        router_scoring="softmax", router_normalize=False, routing_bias=True,
        router_mlp_width=get(c, "router_hidden_size"))
    if "local" in kinds:
        out["local_window"] = get(c, "sliding_window")
    if c["hidden_act"] != "silu":
        out["notes"] = [f"its experts' gate is {c['hidden_act']}, counted as SwiGLU's three "
                        f"matrices"]
    return out


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "zaya": ("ZayaForCausalLM", "qwen3_moe", read_zaya),
}

# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 939
ENTRIES = counted_entries(COUNTED)
