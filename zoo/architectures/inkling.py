"""Thinking Machines' Inkling decoders, counted exactly, not built.

Inkling (inkling_text: InklingForCausalLM) has no rotary positions: each layer's attention
adds a relative position bias read from the hidden states (a d_model -> heads x d_rel
projection mixing a learned d_rel x extent bank of bias-by-distance profiles, the extent the
window on sliding layers and rel_extent on full ones), its keys and values pass through short
causal depthwise convolutions, q and k are RMS-normalised per head, and each sublayer's output
passes through a short convolution of its own before the residual sum. Five of every six
layers are sliding (their own head counts, swa_*), every sixth full. MLPs are dense (with a
learned output scalar) or experts beside shared experts that the router scores too (a row
each, a softmax sink), its weights scaled by a learned scalar. The embedding is RMS-normalised;
the head is never tied.

Inkling 2 (inkling2_text: Inkling2ForCausalLM) keeps the relative bias and the convolutions
and adds a sigmoid output gate (d_model -> heads x head_dim), a sink logit per head projected
from each token, a learned scale per head and dim on the queries and the relative states
(their L2 norms clipped), on full layers key and value convolutions whose taps are also
projected per token (d_model -> kv heads x kernel), and attention residuals over blocks of
layers: each sublayer's input is attention over the earlier blocks' states with a learned
d_model query (three on full layers, for q, k and v, each with an input norm of its own; none
before the first layer's attention; one before the final norm). Every layer is a mixture of
sigmoid-routed experts with soft-capped SwiGLU, no shared expert. Its head predicts
unpadded_vocab_size tokens, its embedding holds vocab_size rows.

Inkling 2 Loop (inkling2_loop_text: Inkling2LoopForCausalLM) is Inkling 2 whose layers
loop_layer_index_start to loop_layer_index_end - 1 run loop_num_passes times, each pass
restarting from the layers before it, caching keys of its own, and (after the first) reading
messages from the previous pass's blocks through learned d_model queries (four per looped
layer), mixed in by gates 2 x d_model -> loop_gate_rank -> two d_model gates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    counted_only,
    get,
    shortest_period,
    with_defaults,
)
from zoo.architectures.counted import Reader, counted_entries
from zoo.architectures.llama import read_llama_like
from zoo.architectures.moe import sigmoid_routed

# transformers' InklingTextConfig class defaults (5.25) for the keys the reader reads
INKLING_DEFAULTS: Config = {
    "vocab_size": 201024, "hidden_size": 6144, "num_hidden_layers": 66,
    "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128,
    "swa_num_attention_heads": 64, "swa_num_key_value_heads": 16, "swa_head_dim": 128,
    "sliding_window_size": 512, "d_rel": 16, "rel_extent": 1024, "local_layer_ids": None,
    "layer_types": None, "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
    "conv_kernel_size": 4, "mlp_layer_types": None, "intermediate_size": 24576,
    "hidden_act": "silu", "moe_intermediate_size": 3072, "n_routed_experts": 256,
    "num_experts_per_tok": 6, "n_shared_experts": 2, "route_scale": 8.0}
# InklingTextConfig's attribute_map: a config.json's key -> the attribute it sets
INKLING_ALIASES = {"sliding_window": "sliding_window_size", "num_local_experts": "n_routed_experts",
                   "sconv_kernel_size": "conv_kernel_size",
                   "model_max_length": "max_position_embeddings"}

# transformers' Inkling2TextConfig class defaults (5.25) for the keys the reader reads
INKLING2_DEFAULTS: Config = {
    "vocab_size": 201024, "unpadded_vocab_size": 200058, "hidden_size": 4608,
    "num_hidden_layers": 48, "num_attention_heads": 48, "num_key_value_heads": 8,
    "head_dim": 128, "swa_num_attention_heads": 48, "swa_num_key_value_heads": 8,
    "swa_head_dim": 128, "sliding_window_size": 1024, "d_rel": 16, "rel_extent": 1024,
    "layer_types": None, "max_position_embeddings": 1048576, "rms_norm_eps": 1e-6,
    "conv_kernel_size": 4, "hidden_act": "silu", "moe_intermediate_size": 2304,
    "n_routed_experts": 384, "num_experts_per_tok": 8, "route_scale": 8.0,
    "n_layers_per_attn_res_block": 6, "final_logit_softcapping": 30.0,
    "scoring_func": "sigmoid"}
INKLING2_ALIASES = {**INKLING_ALIASES, "intermediate_size": "moe_intermediate_size",
                    "routed_scaling_factor": "route_scale"}
# Inkling2LoopTextConfig's defaults where they differ from Inkling2TextConfig's
INKLING2_LOOP_DEFAULTS: Config = {
    **INKLING2_DEFAULTS, "hidden_size": 2304, "num_hidden_layers": 24,
    "num_attention_heads": 24, "swa_num_attention_heads": 24, "moe_intermediate_size": 1152,
    "n_routed_experts": 128, "loop_layer_index_start": 6, "loop_layer_index_end": 18,
    "loop_num_passes": 3, "loop_gate_rank": 64}
# loop_config's keys (the checkpoints' block) -> the attributes they set
LOOP_CONFIG_KEYS = {"core_start": "loop_layer_index_start", "core_end": "loop_layer_index_end",
                    "num_passes": "loop_num_passes", "gate_rank": "loop_gate_rank"}
LAYER_KINDS = {"hybrid_sliding": "local", "hybrid": "global"}


def _aliased(c: Mapping[str, Any], aliases: Mapping[str, str],
             defaults: Mapping[str, Any]) -> Config:
    """The config with the class's attribute_map applied (an alias sets its attribute), over
    the class's defaults."""
    c = {**c, **{target: c[alias] for alias, target in aliases.items() if alias in c}}
    return with_defaults(c, defaults)


def _attention(c: Config, model_type: str, kinds: list[str]) -> Config:
    """Heads and geometry per layer kind (sliding layers swa_*, full ones the plain keys), the
    relative bias over the window or rel_extent, the key/value and sublayer convolutions."""
    layers = get(c, "num_hidden_layers")
    if len(kinds) != layers:
        raise UnsupportedConfigError(f"{model_type}'s layer_types must give hybrid or "
                                     f"hybrid_sliding for each of {layers} layers")
    local = {"n_head": get(c, "swa_num_attention_heads"),
             "n_kv_head": get(c, "swa_num_key_value_heads"), "d_head": get(c, "swa_head_dim")}
    full = {"n_head": get(c, "num_attention_heads"),
            "n_kv_head": get(c, "num_key_value_heads"), "d_head": get(c, "head_dim")}
    out: Config = {"attention_pattern": shortest_period(kinds)}
    if "local" in kinds:
        out.update(local, local_window=get(c, "sliding_window_size"))
        if "global" in kinds:
            if local["n_head"] != full["n_head"]:
                raise UnsupportedConfigError(
                    f"{model_type} with swa_num_attention_heads {local['n_head']} and "
                    f"num_attention_heads {full['n_head']}: query heads that differ by layer "
                    f"kind are not supported")
            out.update(global_kv_heads=full["n_kv_head"], global_d_head=full["d_head"])
    else:
        out.update(full)
    if "global" in kinds:
        out["relative_bias_extent"] = get(c, "rel_extent")
    kernel = get(c, "conv_kernel_size")
    return {**out, "relative_bias_rank": get(c, "d_rel"), "kv_conv_kernel": kernel,
            "sublayer_conv_kernel": kernel}


def _base(c: Config, **fixed: Any) -> Config:
    """What the three share: no positions, RMSNorm, the embedding normalised, no biases, the
    head never tied."""
    out = read_llama_like({k: v for k, v in c.items()
                           if k not in ("rope_parameters", "rope_scaling", "layer_types",
                                        "sliding_window", "tie_word_embeddings")},
                          qkv_bias=False, attn_out_bias=False, mlp_bias=False,
                          tie_embeddings=False, embedding_norm=True, **fixed)
    for key in ("rope_theta", "rope_scaling", "rotary_fraction", "rotary_style"):
        out.pop(key, None)
    out["position"] = "none"
    return out


def _inkling(c: Mapping[str, Any]) -> Config:
    """Inkling's layers as InklingTextConfig derives them: layer_types, else local_layer_ids
    (sliding), else every layer but each sixth sliding; mlp_layer_types, else the first
    dense_mlp_idx layers dense; with dense_intermediate_size, intermediate_size is the
    experts' width and dense_intermediate_size the dense MLPs'."""
    c = _aliased(c, INKLING_ALIASES, INKLING_DEFAULTS)
    layers = get(c, "num_hidden_layers")
    types = c["layer_types"]
    if types is None:
        ids = c["local_layer_ids"]
        local = set(ids) if ids is not None else {i for i in range(layers) if (i + 1) % 6}
        types = ["hybrid_sliding" if i in local else "hybrid" for i in range(layers)]
    if not set(types) <= set(LAYER_KINDS):
        raise UnsupportedConfigError(f"inkling_text's layer_types must be hybrid or "
                                     f"hybrid_sliding, not {sorted(set(types) - set(LAYER_KINDS))}")
    if c.get("dense_intermediate_size") is not None:
        c = {**c, "moe_intermediate_size": c["intermediate_size"],
             "intermediate_size": c["dense_intermediate_size"]}
    mlp = c["mlp_layer_types"]
    if mlp is None:
        dense = c.get("dense_mlp_idx") or 0
        mlp = ["dense" if i < dense else "sparse" for i in range(layers)]
    if len(mlp) != layers or not set(mlp) <= {"dense", "sparse"}:
        raise UnsupportedConfigError(f"inkling_text's mlp_layer_types must give dense or "
                                     f"sparse for each of {layers} layers")
    out = {**_base(c, qk_norm="head", scalar_gains=True),
           **_attention(c, "inkling_text", [LAYER_KINDS[t] for t in types])}
    if "sparse" in mlp:
        first = mlp.index("sparse")
        if mlp[first:] == ["sparse"] * (layers - first):
            out["first_dense_layers"] = first
        else:
            out["mlp_pattern"] = shortest_period(["moe" if t == "sparse" else "dense"
                                                  for t in mlp])
        out.update(sigmoid_routed(c, experts="n_routed_experts", shared="n_shared_experts",
                                  scaling="route_scale", groups=False),
                   router_scores_shared=True)
    return counted_only(out, "Inkling's relative position bias, short convolutions and "
                             "shared-expert sink are not built")


def _inkling2(c: Mapping[str, Any], defaults: Mapping[str, Any] = INKLING2_DEFAULTS,
              model_type: str = "inkling2_text") -> Config:
    """Inkling 2's layers as Inkling2TextConfig derives them (layer_types, else every sixth
    layer full); its head unpadded_vocab_size rows, its embedding vocab_size."""
    c = _aliased(c, INKLING2_ALIASES, defaults)
    layers = get(c, "num_hidden_layers")
    types = c["layer_types"] or ["hybrid" if (i + 1) % 6 == 0 else "hybrid_sliding"
                                 for i in range(layers)]
    if not set(types) <= set(LAYER_KINDS):
        raise UnsupportedConfigError(f"{model_type}'s layer_types must be hybrid or "
                                     f"hybrid_sliding, not {sorted(set(types) - set(LAYER_KINDS))}")
    vocab, head = get(c, "vocab_size"), get(c, "unpadded_vocab_size")
    if head > vocab:
        raise UnsupportedConfigError(f"{model_type} with unpadded_vocab_size {head} above "
                                     f"vocab_size {vocab}: a head wider than the embedding is "
                                     f"not supported")
    if get(c, "n_layers_per_attn_res_block") < 1:
        raise UnsupportedConfigError(f"{model_type}'s n_layers_per_attn_res_block must be at "
                                     f"least 1")
    expert_width = get(c, "moe_intermediate_size")
    out = {**_base({**c, "intermediate_size": expert_width, "vocab_size": head},
                   qk_norm="scaled_clip", attention_output_gate=True, sink_projection=True,
                   kv_conv_dynamic=True, block_attention_residuals=True),
           **_attention(c, model_type, [LAYER_KINDS[t] for t in types]),
           **sigmoid_routed(c, experts="n_routed_experts", shared=None, scaling="route_scale",
                            groups=False),
           "router_normalize": True, "extra_embedding_rows": vocab - head}
    if c["final_logit_softcapping"] is not None:
        out["final_softcap"] = float(c["final_logit_softcapping"])
    return counted_only(out, "Inkling 2's relative position bias, short convolutions, sinks "
                             "and block attention residuals are not built")


def _inkling2_loop(c: Mapping[str, Any]) -> Config:
    """Inkling 2 with its looped layers (loop_config's core_start, core_end, num_passes and
    gate_rank where the checkpoint gives that block), checked as Inkling2LoopTextConfig
    checks them."""
    loop = c.get("loop_config") or {}
    c = {**c, **{attr: loop[key] for key, attr in LOOP_CONFIG_KEYS.items() if key in loop}}
    out = _inkling2(c, INKLING2_LOOP_DEFAULTS, "inkling2_loop_text")
    c = with_defaults(c, INKLING2_LOOP_DEFAULTS)
    start, end = get(c, "loop_layer_index_start"), get(c, "loop_layer_index_end")
    passes, block = get(c, "loop_num_passes"), get(c, "n_layers_per_attn_res_block")
    layers = out["n_layer"]
    if passes < 2 or start <= 0 or start % block or end % block or not start < end <= layers:
        raise UnsupportedConfigError(
            f"inkling2_loop_text with loop_layer_index_start {start}, loop_layer_index_end "
            f"{end} and loop_num_passes {passes}: counted are loops of at least 2 passes over "
            f"layers 0 < start < end <= num_hidden_layers ({layers}), start and end multiples "
            f"of n_layers_per_attn_res_block ({block})")
    runs = [1] * start + [passes] * (end - start) + [1] * (layers - end)
    return {**out, "layer_runs": shortest_period(runs),
            "loop_gate_rank": get(c, "loop_gate_rank")}


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "inkling_text": ("InklingForCausalLM", "deepseek_v3", _inkling),
    "inkling2_text": ("Inkling2ForCausalLM", "deepseek_v3", _inkling2),
    "inkling2_loop_text": ("Inkling2LoopForCausalLM", "deepseek_v3", _inkling2_loop),
}

# after the other counted-only modules (see zoo.architectures); none of them writes a config
PRIORITY = 937
ENTRIES = counted_entries(COUNTED)
