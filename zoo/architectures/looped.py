"""Looped decoders, counted exactly, not built: layers whose weights run more than once a token.

Dory (dory: NVIDIA-Nemotron-Labs-Dory1.0) is a normalized transformer (nGPT): every hidden
state is projected onto the unit sphere (L2 norms without weights, before and after each
sublayer, over q and k, over the attention's output and the MLP's hidden), the residual moves
towards each sublayer's normalised output at a learned rate per channel (lambda_1, lambda_2),
and learned vectors scale the queries (sqk), the sigmoid output gate (s_gate, on AFMoE's gate
projection as wide as q, no bias), the MLP's gate and up (suv) and the logits (one per token).
Its n_input_layers run once, its n_recurrent_layers n_recurrent_loops times (each loop from the
input section's output), its n_output_layers once; each loop keeps keys of its own
(recurrent_kv_cache_mode per_loop) or the last loop alone writes them (last_loop). Released
config.json files list attention and MLP as separate blocks ("mlp" in layer_types, every layer
count doubled): transformers halves them, and so does this reader.

HRM-Text (hrm_text: HRM-Text-1B) is the hierarchical reasoning model: two stacks of
num_hidden_layers (or num_layers_per_stack, once transformers has inflated num_hidden_layers)
LLaMA layers with multi-head attention (keys as many as queries), a sigmoid output gate as wide
as q (with attention_bias, biased like q), weightless RMSNorms and a weightless norm after each
stack. Per H cycle the low-level stack runs L_cycles times and the high-level one once, every
run caching keys of its own; the low-level state starts from a learned d_model vector
(z_L_init, a parameter that never trains). Its embedding is scaled by embedding_scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    counted_only,
    get,
    read_layer_types,
    read_rope,
    shortest_period,
    with_defaults,
)
from zoo.architectures.counted import counted_entries
from zoo.architectures.llama import read_llama_like

# transformers' DoryConfig class defaults (5.25) for the keys the reader reads
DORY_DEFAULTS: Config = {
    "vocab_size": 131072, "hidden_size": 2560, "intermediate_size": 7168,
    "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 4,
    "head_dim": 256, "hidden_act": "silu", "max_position_embeddings": 8192,
    "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
    "sliding_window": 1024, "layer_types": None, "n_input_layers": 8,
    "n_recurrent_layers": None, "n_output_layers": 8, "n_recurrent_loops": 2,
    "recurrent_kv_cache_mode": "per_loop"}
DORY_CACHE_MODES = {"per_loop": False, "last_loop": True}  # -> cache_last_run_only


def _dory(c: Mapping[str, Any]) -> Config:
    """Dory's layers as DoryConfig leaves them (released configs' attention and mlp blocks
    paired into layers), the recurrent section's layers run n_recurrent_loops times."""
    if c.get("hybrid_layer_pattern") is not None and c.get("layer_types") is None:
        raise UnsupportedConfigError(
            "dory: hybrid_layer_pattern without layer_types (the Megatron/vLLM export) is not "
            "read by transformers' DoryConfig, which would build num_hidden_layers layers of "
            "its default pattern, not the checkpoint's")
    c = with_defaults(c, DORY_DEFAULTS)
    layers = get(c, "num_hidden_layers")
    sections = {key: c[key] for key in ("n_input_layers", "n_recurrent_layers",
                                        "n_output_layers")}
    types = c["layer_types"]
    if types is not None and "mlp" in types:  # attention and mlp listed as blocks: halved
        types, layers = types[::2], layers // 2
        sections = {key: None if n is None else n // 2 for key, n in sections.items()}
    if types is None:
        types = ["full_attention" if (i + 1) % 4 == 0 else "sliding_attention"
                 for i in range(layers)]
    if len(types) != layers:
        raise UnsupportedConfigError(f"dory: layer_types lists {len(types)} layers for "
                                     f"num_hidden_layers {layers}")
    first, last = get(sections, "n_input_layers"), get(sections, "n_output_layers")
    middle = get(sections, "n_recurrent_layers", default=layers - first - last)
    loops = get(c, "n_recurrent_loops")
    if first + middle + last != layers or min(first, middle, last) < 0 or loops < 1:
        raise UnsupportedConfigError(
            f"dory: n_input_layers {first} + n_recurrent_layers {middle} + n_output_layers "
            f"{last} must be num_hidden_layers {layers}, and n_recurrent_loops ({loops}) at "
            f"least 1, as DoryConfig checks")
    mode = c["recurrent_kv_cache_mode"]
    if mode not in DORY_CACHE_MODES:
        raise UnsupportedConfigError(f"dory: recurrent_kv_cache_mode {mode!r} is not one of "
                                     f"{', '.join(DORY_CACHE_MODES)}")
    if c["attention_bias"]:
        raise UnsupportedConfigError("dory with attention_bias true (biases on q, k, v and the "
                                     "output, none on the gate) is not supported")
    rope = c.get("rope_parameters") or {}
    # one rope per layer type (no parameters either way): the full layers' frames the spec
    params = rope.get("full_attention", rope) if isinstance(rope, Mapping) else {}
    out = read_llama_like({**c, "num_hidden_layers": layers, "rope_parameters": None},
                          qkv_bias=False, attn_out_bias=False, norm="l2",
                          norm_position="sandwich", qk_norm="l2", sub_norms=True,
                          attention_output_gate=True, ngpt_scales=True,
                          **read_rope(c, params=params))
    runs = [1] * first + [loops] * middle + [1] * last
    out = {**out, **read_layer_types({"layer_types": types}, get(c, "sliding_window")),
           "layer_runs": shortest_period(runs),
           "cache_last_run_only": DORY_CACHE_MODES[mode] and loops > 1}
    return counted_only(out, "nGPT's unit-sphere residual and learned scales, and a looped "
                             "recurrent section, are not built")


# transformers' HrmTextConfig class defaults (5.25) for the keys the reader reads
HRM_DEFAULTS: Config = {
    "vocab_size": 151808, "hidden_size": 1536, "intermediate_size": 4096,
    "num_hidden_layers": 16, "num_attention_heads": 12, "head_dim": 128, "hidden_act": "silu",
    "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "attention_bias": False, "mlp_bias": False, "H_cycles": 2, "L_cycles": 3,
    "initializer_range": 0.02, "embedding_scale": None, "num_layers_per_stack": None}


def _hrm_text(c: Mapping[str, Any]) -> Config:
    """HRM-Text's two stacks as 2 x num_layers_per_stack layers, the low-level stack's first,
    run H_cycles x L_cycles and H_cycles times; num_key_value_heads is not read (the class
    builds keys and values as wide as the queries)."""
    c = with_defaults(c, HRM_DEFAULTS)
    # num_hidden_layers is the per-stack count until transformers rewrites it (then
    # num_layers_per_stack holds it)
    per_stack = get(c, "num_layers_per_stack", "num_hidden_layers")
    high, low = get(c, "H_cycles"), get(c, "L_cycles")
    if high < 1 or low < 1:
        raise UnsupportedConfigError(f"hrm_text with H_cycles {high} and L_cycles {low}: a stack "
                                     f"that never runs is not supported (both at least 1)")
    heads = get(c, "num_attention_heads")
    scale = get(c, "embedding_scale", default=1.0 / get(c, "initializer_range"))
    out = read_llama_like({**c, "num_hidden_layers": 2 * per_stack,
                           "num_key_value_heads": heads},
                          norm="weightless_rmsnorm", attention_output_gate=True,
                          initial_state=True)
    if scale > 0:  # a scalar, no parameter; the spec's multiplier is positive
        out["embedding_multiplier"] = float(scale)
    out["layer_runs"] = [high * low] * per_stack + [high] * per_stack
    return counted_only(out, "the hierarchical H/L-cycle recurrence and weightless RMSNorms "
                             "are not built")


COUNTED = {
    "dory": ("DoryForCausalLM", "llama", _dory),
    "hrm_text": ("HrmTextForCausalLM", "llama", _hrm_text),
}

# where write_config tries these entries among all (lowest first): last; none writes a config
PRIORITY = 933
ENTRIES = counted_entries(COUNTED)
