"""Beam (Reflection AI) and Ergo (Amazon), counted but not built: sliding-window layers with
rotary beside full-attention layers without positions, an RMSNorm over each q and k head,
norms before and after each sublayer, and per-layer dense MLPs or experts routed by sigmoid
scores with a selection-only bias (a buffer, as DeepSeek-V3's). Beam gates the attention's
output per query dim with a bias per head; Ergo (whose class takes Beam's rotary embedding)
runs ungated relu2 MLPs whose every expert's output has an RMSNorm of its own, beside a
shared expert, and mixes each sublayer into the residual through a learned gate.

As in `counted`, each reader states its class's defaults (transformers 5.25), and
tests/test_config_defaults.py drops each key of every default config in turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from zoo.architectures.llama import read_llama_like
from zoo.architectures.moe import sigmoid_routed

# each class's per-layer MLP list (mlp_layer_types) in zoo's words
MLP_TYPES = {"dense": "dense", "sparse": "moe"}


def _per_layer(c: Mapping[str, Any], key: str, allowed: Sequence[str],
               default: list[str]) -> list[str]:
    """A per-layer list (layer_types, mlp_layer_types) as given, else the class's `default`,
    checked: one of `allowed` for each of num_hidden_layers layers."""
    layers = get(c, "num_hidden_layers")
    types = list(c.get(key) or default)
    if len(types) != layers or not set(types) <= set(allowed):
        raise UnsupportedConfigError(f"{c.get('model_type', 'this config')}'s {key} must give "
                                     f"one of {', '.join(allowed)} for each of {layers} layers")
    return types


def _layers(c: Mapping[str, Any], attention: list[str], mlp: list[str],
            rope: Mapping[str, Any]) -> Config:
    """The fields that follow from the per-layer lists: sliding layers local (global where
    sliding_window is null: the class then gives them no window), rotary on the layer types
    whose rope_parameters entry is set (none: no positions), and dense layers or experts (as
    first_dense_layers where the dense ones come first)."""
    window = c.get("sliding_window")
    kinds = ["local" if kind == "sliding_attention" and window is not None else "global"
             for kind in attention]
    rotary = [rope.get(kind) is not None for kind in attention]
    out: Config = {"attention_pattern": shortest_period(kinds)}
    if "local" in kinds:
        out["local_window"] = window
    if any(rotary):
        out["rotary_pattern"] = shortest_period(rotary)
        out.update(read_rope(c, params=next(rope[kind] for kind in attention
                                            if rope.get(kind) is not None)))
    else:
        out["position"] = "none"
    if "sparse" in mlp:
        dense = mlp.index("sparse")
        if mlp[dense:] == ["sparse"] * (len(mlp) - dense):  # dense layers first, as by default
            out["first_dense_layers"] = dense
        else:
            out["mlp_pattern"] = shortest_period([MLP_TYPES[kind] for kind in mlp])
    return out


def _rope_by_type(c: Mapping[str, Any], model_type: str) -> Mapping[str, Any]:
    rope = c.get("rope_parameters")
    if not isinstance(rope, Mapping) or "rope_type" in rope:
        raise UnsupportedConfigError(f"{model_type}'s rope_parameters must be keyed by layer "
                                     f"type (sliding_attention, full_attention), as its class "
                                     f"reads them")
    return rope


BEAM_DEFAULTS = {
    "vocab_size": 151936, "hidden_size": 5120, "intermediate_size": 20480,
    "num_hidden_layers": 52, "num_attention_heads": 48, "num_key_value_heads": 8,
    "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "attention_bias": False,
    "sliding_window": 512, "moe_intermediate_size": 2560, "num_experts_per_tok": 8,
    "num_experts": 256, "norm_topk_prob": True, "n_group": 8, "topk_group": 4,
    "routed_scaling_factor": 2.5, "final_logit_softcapping": 30.0}


def _beam(c: Mapping[str, Any]) -> Config:
    """Beam: grouped-query attention with an RMSNorm over each q and k head, its output gated
    per query dim by sigmoid(x W_g + b), W_g a d_model x (heads x head_dim) projection and b a
    bias per head; a sliding window and rotary on the layers layer_types calls sliding (five
    of every six, the last layer full), full attention without positions (queries scaled by
    position, no parameters) on the others; norms before and after each sublayer; dense
    SwiGLU MLPs of intermediate_size or experts of moe_intermediate_size as mlp_layer_types
    says (three dense layers first by default), routed by sigmoid scores with a selection-only
    bias over expert groups, renormalised and scaled, no shared expert; the logits soft-capped.
    attention_bias (on q, k, v and the output, none on the gate) is refused by name."""
    c = with_defaults(c, BEAM_DEFAULTS)
    if c["attention_bias"]:
        raise UnsupportedConfigError("beam with attention_bias true (biases on q, k, v and the "
                                     "output, none on the gate) is not supported")
    layers = get(c, "num_hidden_layers")
    attention = _per_layer(c, "layer_types", ("sliding_attention", "full_attention"), [
        "sliding_attention" if (i + 1) % 6 and i < layers - 1 else "full_attention"
        for i in range(layers)])
    dense = min(3, layers)
    mlp = _per_layer(c, "mlp_layer_types", tuple(MLP_TYPES),
                     ["dense"] * dense + ["sparse"] * (layers - dense))
    rope = _rope_by_type(c, "beam") if c.get("rope_parameters") is not None else {
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
    out = read_llama_like({k: v for k, v in c.items() if k != "rope_parameters"},
                          qk_norm="head", norm_position="sandwich",
                          attention_output_gate=True, attention_gate_bias=True,
                          qkv_bias=False, attn_out_bias=False, mlp_bias=False)
    out.update(_layers(c, attention, mlp, rope))
    if c["final_logit_softcapping"] is not None:
        out["final_softcap"] = float(c["final_logit_softcapping"])
    if "sparse" not in mlp:
        return out
    routed = sigmoid_routed(c, experts="num_experts", shared=None,
                             scaling="routed_scaling_factor")
    if c["n_group"] is None:  # no group-limited routing (its class then cannot route)
        routed.update(expert_groups=None, expert_groups_per_token=None)
    return {**out, **routed}


ERGO_DEFAULTS = {
    "vocab_size": 262144, "hidden_size": 8192, "num_hidden_layers": 64,
    "num_attention_heads": 64, "num_key_value_heads": 8,
    "first_dense_intermediate_size": 32768, "num_dense_blocks": 1,
    "moe_intermediate_size": 4096, "shared_intermediate_size": 8192, "num_experts": 256,
    "num_experts_per_tok": 8, "moe_routed_scaling_factor": 8 ** 0.5,
    "max_position_embeddings": 524288, "rms_norm_eps": 1e-12, "sliding_window": 512,
    "global_attention_every_n_layers": 4}


def _ergo(c: Mapping[str, Any]) -> Config:
    """Ergo: grouped-query attention from one fused q/k/v projection, heads of hidden_size /
    num_attention_heads (a head_dim key is not read), an RMSNorm over each q and k head, no
    biases anywhere; a sliding window and rotary on all but every
    global_attention_every_n_layers-th layer (or as layer_types says), which attends to the
    whole context without positions; norms before and after each sublayer, whose output is
    mixed into the residual by a learned d_model gate. Ungated relu2 MLPs (whatever hidden_act
    says): the first num_dense_blocks layers (or as mlp_layer_types says) dense, of
    first_dense_intermediate_size; the others num_experts experts of moe_intermediate_size,
    each followed by an RMSNorm of its own, routed by sigmoid scores with a selection-only
    bias, renormalised and scaled by moe_routed_scaling_factor, beside a shared expert of
    shared_intermediate_size with its own output norm. The head is never tied."""
    c = with_defaults(c, ERGO_DEFAULTS)
    if c.get("local_attention_window") is not None:  # the checkpoints' name for it
        c = {**c, "sliding_window": c["local_attention_window"]}
    layers, every = get(c, "num_hidden_layers"), get(c, "global_attention_every_n_layers")
    if every < 1:
        raise UnsupportedConfigError(f"ergo's global_attention_every_n_layers must be at least "
                                     f"1, not {every}")
    attention = _per_layer(c, "layer_types", ("sliding_attention", "full_attention"), [
        "sliding_attention" if (i + 1) % every else "full_attention" for i in range(layers)])
    dense = get(c, "num_dense_blocks")
    mlp = _per_layer(c, "mlp_layer_types", tuple(MLP_TYPES),
                     ["dense" if i < dense else "sparse" for i in range(layers)])
    rope = c.get("rope_parameters") or {"rope_type": "default", "rope_theta": 1_000_000.0}
    if "rope_type" in rope:  # a flat entry describes the sliding layers
        rope = {"sliding_attention": rope, "full_attention": None}
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    out = read_llama_like(
        {**{k: v for k, v in c.items() if k not in ("rope_parameters", "hidden_act")},
         "intermediate_size": get(c, "first_dense_intermediate_size")},
        d_head=d // heads, activation="relu",
        qk_norm="head", norm_position="sandwich", residual_scales=True, qkv_bias=False,
        attn_out_bias=False, mlp_bias=False, tie_embeddings=False)
    out.update(_layers(c, attention, mlp, rope))
    out["notes"] = [*out.get("notes", []), "its MLPs' relu2 (squared ReLU) is counted as the "
                                           "two-matrix relu MLP"]
    if "sparse" not in mlp:
        return out
    return {**out, **sigmoid_routed(c, experts="num_experts", shared=None,
                                     scaling="moe_routed_scaling_factor", groups=False),
            "n_shared_experts": 1, "d_ff_shared": get(c, "shared_intermediate_size"),
            "expert_output_norms": True}


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "beam": ("BeamForCausalLM", "qwen3_moe", _beam),
    "ergo": ("ErgoForCausalLM", "deepseek_v3", _ergo),
}

# after counted_moe's entries (see zoo.architectures); none of them writes a config
PRIORITY = 932
ENTRIES = counted_entries(COUNTED)
