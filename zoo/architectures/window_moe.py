"""Sliding-window mixtures of experts with QK-norm, counted, not built: Recursive's Flint
(flint), Aleph Alpha's Kolibri 1 (kolibri1) and Kolibri 1.1 (kolibri1_1).

Both keep grouped-query attention with an RMSNorm over each q and k head, rotary on the
sliding-window layers only (their full-attention layers have no positions, which changes no
count), and routed experts by sigmoid scores beside an ungated shared MLP. Flint adds a
learned sink per head on every layer (a float32 logit in the softmax's denominator), dense
first layers (mlp_only_layers, decoder_sparse_step as Qwen's) and a router without a routing
bias; Kolibri 1 has Glm4's four norms a layer (before and after each sublayer), experts on
every layer, and DeepSeek-V3's selection-only bias (e_score_correction_bias: a buffer).
Kolibri 1.1 replaces Kolibri 1's full-attention layers with indexed ones (a weightless
indexer picks the keys each query attends to; every key is cached), some of which attend to
an earlier indexed layer's keys and values instead of their own (kv_source_layers), and
gives its first layers a dense MLP.

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
    shortest_period,
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


def _experts_spelled(c: Mapping[str, Any]) -> Mapping[str, Any]:
    """Kolibri's config class stores num_experts as num_local_experts (what its to_dict
    writes); a released config.json spells it num_experts."""
    if "num_local_experts" not in c and "num_experts" in c:
        return {**c, "num_local_experts": c["num_experts"]}
    return c


def _kolibri(c: Mapping[str, Any], model_type: str, dense_width: int, **fields: Any) -> Config:
    """What Kolibri 1 and 1.1 share: EXAONE 4's attention without biases under sandwich norms,
    num_local_experts experts chosen by sigmoid scores with a selection-only bias (renormalised
    with norm_topk_prob) beside one ungated shared MLP; dense layers of `dense_width`."""
    return read_llama_like({**c, "intermediate_size": dense_width}, qk_norm="head",
                           norm_position="sandwich", qkv_bias=False, attn_out_bias=False,
                           mlp_bias=False, n_experts=get(c, "num_local_experts"),
                           experts_per_token=get(c, "num_experts_per_tok"),
                           d_ff_expert=get(c, "moe_intermediate_size"), n_shared_experts=1,
                           d_ff_shared=_shared_width(c, model_type), router_scoring="sigmoid",
                           routing_bias=True, router_normalize=bool(c["norm_topk_prob"]),
                           **fields)


def _kolibri1(c: Mapping[str, Any]) -> Config:
    """Kolibri 1: EXAONE 4's attention (no biases; rotary on the sliding layers only, or on
    every layer when sliding_window is null) with full attention on every fifth layer unless
    layer_types says, under Glm4's sandwich norms; in every layer num_experts experts chosen
    by sigmoid scores plus a selection-only bias (renormalised with norm_topk_prob) beside an
    ungated shared MLP of shared_expert_intermediate_size. Its class has no dense MLP."""
    c = with_defaults(_experts_spelled(c), KOLIBRI1_DEFAULTS)
    layers = get(c, "num_hidden_layers")
    out = _kolibri(c, "kolibri1", get(c, "moe_intermediate_size"))
    default = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention"
               for i in range(layers)]
    return {**out, **_layer_types(c, "kolibri1", default)}


# transformers' Kolibri1_1Config defaults (5.25): Kolibri1Config's, and its indexed layers'
# (layer_types, mlp_only_layers, index_layers and kv_source_layers null are derived by its
# __post_init__: see _kolibri1_1). index_layers, index_pool_size, index_compression and
# index_num_heads steer the weightless indexer's choice and change no count
KOLIBRI1_1_DEFAULTS: dict[str, Any] = {
    **KOLIBRI1_DEFAULTS, "kv_source_layers": None, "index_topk": 2048,
    "index_num_local_tokens": 128, "index_num_sink_tokens": 8, "mlp_only_layers": None,
    "mlp_only_intermediate_size": 3584}
# Kolibri1_1Config's default kv_source_layers: for each indexed layer in turn, which indexed
# layer (by its place among them) it reads the keys and values of
KOLIBRI1_1_KV_SOURCES = (0, 0, 0, 3, 4, 5, 5, 5, 5, 0)
KOLIBRI1_1_KINDS = {"indexed_attention": "indexed", "sliding_attention": "local"}


def _kv_sources(c: Mapping[str, Any], types: list[str]) -> list[int]:
    """kv_source_layers (or Kolibri1_1Config's default): for each layer, the layer whose keys
    and values it attends to, checked as the class checks it."""
    indexed = [i for i, kind in enumerate(types) if kind == "indexed_attention"]
    sources = c["kv_source_layers"]
    if sources is None:
        if len(indexed) > len(KOLIBRI1_1_KV_SOURCES):
            raise UnsupportedConfigError(
                f"kolibri1_1's kv_source_layers is null with {len(indexed)} indexed layers: "
                f"the class's default covers {len(KOLIBRI1_1_KV_SOURCES)}; set it")
        sources = list(range(len(types)))
        for layer, place in zip(indexed, KOLIBRI1_1_KV_SOURCES, strict=False):  # the first
            sources[layer] = indexed[place]
    if not isinstance(sources, list) or len(sources) != len(types):
        raise UnsupportedConfigError(f"kolibri1_1's kv_source_layers {sources!r}: expected "
                                     f"one layer index per layer ({len(types)})")
    for i, source in enumerate(sources):
        if not (isinstance(source, int) and 0 <= source <= i and sources[source] == source
                and types[source] == types[i]
                and (source == i or types[i] == "indexed_attention")):
            raise UnsupportedConfigError(
                f"kolibri1_1's kv_source_layers[{i}] is {source!r}: expected an earlier "
                f"indexed layer that makes its own keys and values (or {i} itself)")
    return sources


def _kolibri1_1(c: Mapping[str, Any]) -> Config:
    """Kolibri 1.1: Kolibri 1's attention and experts (see _kolibri1), with indexed layers
    (every fifth unless layer_types says) for its full-attention ones: NoPE grouped-query
    attention over at most index_topk + index_num_sink_tokens + index_num_local_tokens of the
    keys, picked by a weightless indexer, every key cached. A layer whose kv_source_layers
    entry is an earlier layer (by default the 2nd, 3rd and 10th indexed layers read the 1st's,
    the 7th to 9th the 6th's) has no key/value projections and no key norm and caches
    nothing. The layers of mlp_only_layers (the first two by default) keep a gated MLP of
    mlp_only_intermediate_size instead of the experts."""
    c = with_defaults(_experts_spelled(c), KOLIBRI1_1_DEFAULTS)
    layers = get(c, "num_hidden_layers")
    types = c["layer_types"] if c["layer_types"] is not None else [
        "indexed_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(layers)]
    if not isinstance(types, list) or len(types) != layers \
            or not set(types) <= set(KOLIBRI1_1_KINDS):
        raise UnsupportedConfigError(f"kolibri1_1's layer_types {types!r}: expected "
                                     f"{layers} of {', '.join(KOLIBRI1_1_KINDS)}")
    kinds = [KOLIBRI1_1_KINDS[kind] for kind in types]
    out = _kolibri(c, "kolibri1_1", get(c, "mlp_only_intermediate_size"),
                   attention_pattern=shortest_period(kinds))
    if "local" in kinds:
        window = c["sliding_window"]
        if not isinstance(window, int) or window < 1:
            raise UnsupportedConfigError(f"kolibri1_1's sliding_window {window!r}: its "
                                         f"sliding layers need a positive window")
        out["local_window"] = window
    if "indexed" in kinds:
        keys = sum(get(c, name) for name in ("index_topk", "index_num_sink_tokens",
                                             "index_num_local_tokens"))
        if keys < 1:
            raise UnsupportedConfigError(f"kolibri1_1's index_topk {c['index_topk']}: "
                                         f"expected >= 1")
        out["indexed_keys"] = keys
    shared = [source != i for i, source in enumerate(_kv_sources(c, types))]
    if any(shared):
        out["kv_shared_pattern"] = shortest_period(shared)
    dense = c["mlp_only_layers"] if c["mlp_only_layers"] is not None else [0, 1]
    return {**out, **read_sparse_layers({"num_hidden_layers": layers, "mlp_only_layers": dense})}


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "flint": ("FlintForCausalLM", "qwen2_moe", _flint),
    "kolibri1": ("Kolibri1ForCausalLM", "glm4_moe", _kolibri1),
    "kolibri1_1": ("Kolibri1_1ForCausalLM", "glm4_moe", _kolibri1_1),
}

# after counted_moe's entries (see zoo.architectures); none of them writes a config
PRIORITY = 934
ENTRIES = counted_entries(COUNTED)
