"""Sliding-window mixtures of experts with QK-norm, counted, not built: Recursive's Flint
(flint) and Aleph Alpha's Kolibri 1 (kolibri1).

Both keep grouped-query attention with an RMSNorm over each q and k head, rotary on the
sliding-window layers only (their full-attention layers have no positions, which changes no
count), and routed experts by sigmoid scores beside an ungated shared MLP. Flint adds a
learned sink per head on every layer (a float32 logit in the softmax's denominator), dense
first layers (mlp_only_layers, decoder_sparse_step as Qwen's) and a router without a routing
bias; Kolibri 1 has Glm4's four norms a layer (before and after each sublayer), experts on
every layer, and DeepSeek-V3's selection-only bias (e_score_correction_bias: a buffer).

As in `counted`, each reader states its class's defaults (transformers 5.25), and
tests/test_config_defaults.py drops each key of every default config in turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    get,
    read_layer_types,
    with_defaults,
)
from zoo.architectures.counted import Reader, counted_entries
from zoo.architectures.llama import read_llama_like
from zoo.architectures.moe import read_sparse_layers

# transformers' FlintConfig defaults (5.25); layer_types and mlp_only_layers null are derived
# by its __post_init__ (see _flint_layer_types)
FLINT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 150144, "hidden_size": 2048, "intermediate_size": 6144,
    "num_hidden_layers": 49, "num_attention_heads": 32, "num_key_value_heads": 4,
    "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 262144,
    "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "sliding_window": 513,
    "decoder_sparse_step": 1, "moe_intermediate_size": 512,
    "shared_expert_intermediate_size": 1024, "num_experts_per_tok": 6, "num_experts": 256,
    "norm_topk_prob": True, "attention_bias": False, "mlp_only_layers": None,
    "layer_types": None}

# transformers' Kolibri1Config defaults (5.25); null layer_types derived by its __post_init__.
# Its num_experts is stored (and written) as num_local_experts, which wins where both are set
KOLIBRI1_DEFAULTS: dict[str, Any] = {
    "vocab_size": 128000, "hidden_size": 2560, "num_hidden_layers": 50,
    "num_attention_heads": 48, "num_key_value_heads": 4, "head_dim": 128,
    "hidden_act": "silu", "max_position_embeddings": 262144, "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False, "sliding_window": 513, "moe_intermediate_size": 512,
    "num_experts_per_tok": 6, "num_local_experts": 384, "norm_topk_prob": False,
    "shared_expert_intermediate_size": 512, "layer_types": None}


def _layer_types(c: Mapping[str, Any], model_type: str, default: list[str]) -> Config:
    """layer_types (or the class's default layout) as an attention pattern and window."""
    layers = get(c, "num_hidden_layers")
    types = c["layer_types"] if c["layer_types"] is not None else default
    if len(types) != layers:
        raise UnsupportedConfigError(f"{model_type}'s layer_types has {len(types)} entries "
                                     f"for num_hidden_layers {layers}")
    return read_layer_types({"layer_types": types}, c["sliding_window"])


def _shared_width(c: Mapping[str, Any], model_type: str) -> int:
    width = get(c, "shared_expert_intermediate_size")
    if width < 1:
        raise UnsupportedConfigError(f"{model_type}'s shared_expert_intermediate_size {width}: "
                                     f"the shared MLP is always built; expected >= 1")
    return width


def _flint(c: Mapping[str, Any]) -> Config:
    """Flint: Qwen3-MoE's attention (attention_bias on q, k, v and the output) with a learned
    sink per head; full attention on the first two layers, every fourth from the second and
    the last (no rotary there), sliding windows elsewhere, unless layer_types says; dense
    MLPs of intermediate_size on mlp_only_layers (the first two by default) and off
    decoder_sparse_step, elsewhere num_experts experts chosen by sigmoid scores without a
    bias (renormalised with norm_topk_prob) beside an ungated shared MLP of
    shared_expert_intermediate_size."""
    c = with_defaults(c, FLINT_DEFAULTS)
    layers = get(c, "num_hidden_layers")
    bias = bool(c["attention_bias"])
    out = read_llama_like(c, qk_norm="head", qkv_bias=bias, attn_out_bias=bias,
                          mlp_bias=False, attention_sinks=True,
                          n_experts=get(c, "num_experts"),
                          experts_per_token=get(c, "num_experts_per_tok"),
                          d_ff_expert=get(c, "moe_intermediate_size"), n_shared_experts=1,
                          d_ff_shared=_shared_width(c, "flint"), router_scoring="sigmoid",
                          router_normalize=bool(c["norm_topk_prob"]))
    default = ["full_attention" if i < 2 or i % 4 == 1 or i == layers - 1
               else "sliding_attention" for i in range(layers)]
    dense = c["mlp_only_layers"] if c["mlp_only_layers"] is not None else [0, 1]
    return {**out, **_layer_types(c, "flint", default),
            **read_sparse_layers({**c, "mlp_only_layers": dense})}


def _kolibri1(c: Mapping[str, Any]) -> Config:
    """Kolibri 1: EXAONE 4's attention (no biases; rotary on the sliding layers only, or on
    every layer when sliding_window is null) with full attention on every fifth layer unless
    layer_types says, under Glm4's sandwich norms; in every layer num_experts experts chosen
    by sigmoid scores plus a selection-only bias (renormalised with norm_topk_prob) beside an
    ungated shared MLP of shared_expert_intermediate_size. Its class has no dense MLP."""
    if "num_local_experts" not in c and "num_experts" in c:
        c = {**c, "num_local_experts": c["num_experts"]}
    c = with_defaults(c, KOLIBRI1_DEFAULTS)
    layers = get(c, "num_hidden_layers")
    out = read_llama_like({**c, "intermediate_size": get(c, "moe_intermediate_size")},
                          qk_norm="head", norm_position="sandwich", qkv_bias=False,
                          attn_out_bias=False, mlp_bias=False,
                          n_experts=get(c, "num_local_experts"),
                          experts_per_token=get(c, "num_experts_per_tok"),
                          d_ff_expert=get(c, "moe_intermediate_size"), n_shared_experts=1,
                          d_ff_shared=_shared_width(c, "kolibri1"), router_scoring="sigmoid",
                          routing_bias=True, router_normalize=bool(c["norm_topk_prob"]))
    default = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention"
               for i in range(layers)]
    return {**out, **_layer_types(c, "kolibri1", default)}


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "flint": ("FlintForCausalLM", "qwen2_moe", _flint),
    "kolibri1": ("Kolibri1ForCausalLM", "glm4_moe", _kolibri1),
}

# after counted_moe's entries (see zoo.architectures); none of them writes a config
PRIORITY = 934
ENTRIES = counted_entries(COUNTED)
