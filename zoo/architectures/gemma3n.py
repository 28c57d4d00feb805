"""Google's Gemma 3n (gemma3n_text, Gemma3nForCausalLM; gemma3n's multimodal config is read for
its text decoder), counted, not built.

Gemma 3's sandwich-normed GeGLU decoder of four local layers to one global (QK-norm, the
value norm of Gemma 4, unscaled scores, plain RMSNorm weights), with what Gemma 4's small
models took from it (transformers' Gemma3nTextConfig and modeling_gemma3n are the reference):
per-layer input embeddings (hidden_size_per_layer_input), and the last num_kv_shared_layers
layers reusing the keys and values of the last earlier layer of their kind (no projections,
no cache of their own). Its own: AltUp (altup_num_inputs residual streams, one updated by
each layer, the others predicted and corrected) and LAuReL (a low-rank residual branch beside
the attention), both counted in `zoo.accounting.params.altup_laurel_params`; and activation
sparsity (activation_sparsity_pattern: a statistical top-k of the gate's activations on the
first layers), which has no parameters and changes no count.

Configs omit what their class defaults (num_kv_shared_layers defaults to 15, laurel_rank to
64): the reader applies the same defaults as transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    LAYER_TYPES,
    Architecture,
    Config,
    UnsupportedConfigError,
    describe,
    get,
    read_rope,
    refuse_write,
    shortest_period,
    text_decoder_of,
)

# transformers' Gemma3nTextConfig defaults (E4B's shapes), for what a published config leaves
# out
DEFAULTS: dict[str, Any] = {
    "vocab_size": 262400, "hidden_size": 2048, "intermediate_size": 16384,
    "num_hidden_layers": 35, "num_attention_heads": 8, "num_key_value_heads": 2,
    "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
    "attention_bias": False, "sliding_window": 512, "layer_types": None,
    "final_logit_softcapping": 30.0, "vocab_size_per_layer_input": 262144,
    "hidden_size_per_layer_input": 256, "altup_num_inputs": 4, "num_kv_shared_layers": 15,
    "laurel_rank": 64, "activation_sparsity_pattern": None,
}
SLIDING_PERIOD = 5  # transformers' layer_types when the config has none: four sliding, one full
# what zoo counts of the keys that take a positive width
WIDTHS = ("hidden_size_per_layer_input", "vocab_size_per_layer_input", "altup_num_inputs",
          "laurel_rank")


def _layer_kinds(c: Mapping[str, Any], layers: int) -> list[str]:
    types = c["layer_types"] or ["sliding_attention" if (i + 1) % SLIDING_PERIOD
                                 else "full_attention" for i in range(layers)]
    if len(types) != layers:
        raise UnsupportedConfigError(f"gemma3n_text layer_types has {len(types)} entries for "
                                     f"{layers} layers")
    unknown = sorted({t for t in types if t not in LAYER_TYPES})
    if unknown:
        raise UnsupportedConfigError(f"gemma3n_text layer_types {', '.join(unknown)} are not "
                                     f"supported; zoo reads {', '.join(LAYER_TYPES)}")
    return [LAYER_TYPES[t] for t in types]


def _mlp_width(c: Mapping[str, Any], layers: int) -> int:
    """intermediate_size: one width, or one per layer (as transformers writes it back); zoo
    counts one width for every layer."""
    width = get(c, "intermediate_size")
    if not isinstance(width, list):
        return width
    if len(width) != layers:
        raise UnsupportedConfigError(f"gemma3n_text intermediate_size has {len(width)} entries "
                                     f"for {layers} layers")
    if len(set(width)) != 1:
        raise UnsupportedConfigError(f"gemma3n_text intermediate_size differs between layers "
                                     f"({', '.join(map(str, sorted(set(width))))}); zoo counts "
                                     f"one MLP width for every layer")
    return width[0]


def _check_sparsity(c: Mapping[str, Any], layers: int) -> None:
    """activation_sparsity_pattern changes no count, but transformers refuses a pattern that
    does not give every layer its value, and zoo does the same."""
    pattern = c["activation_sparsity_pattern"]
    if pattern is None:
        return
    if not isinstance(pattern, list) or len(pattern) != layers:
        raise UnsupportedConfigError(f"gemma3n_text activation_sparsity_pattern is "
                                     f"{describe(pattern)}; expected one value per layer "
                                     f"({layers})")


def _read_rope(c: Mapping[str, Any], kinds: list[str]) -> Config:
    """Global layers: rope_theta (1e6) and any scaling (rope_scaling, or rope_parameters'
    full_attention); local layers their own base (rope_local_base_freq, 10,000), unscaled."""
    params = c.get("rope_parameters") or {}
    full = params.get("full_attention") or {}
    sliding = params.get("sliding_attention") or {}
    legacy = {"rope_theta": c.get("rope_theta", 1e6), "rope_scaling": c.get("rope_scaling")}
    rope = read_rope(legacy, params=full or None)
    local = read_rope({"rope_theta": c.get("rope_local_base_freq", 1e4)},
                      params=sliding or None)
    if "rope_scaling" in local:
        raise UnsupportedConfigError("gemma3n_text with scaled rotary on its sliding layers is "
                                     "not supported")
    if rope["rotary_fraction"] != 1.0 or local["rotary_fraction"] != 1.0:
        raise UnsupportedConfigError("gemma3n_text partial_rotary_factor: Gemma 3n rotates "
                                     "whole heads")
    if "global" not in kinds:  # every layer local: their base is the spec's one base
        return {**rope, "rope_theta": local["rope_theta"]}
    if "local" in kinds:
        rope["local_rope_theta"] = local["rope_theta"]
    return rope


def read_gemma3n(config: Mapping[str, Any]) -> Config:
    c = {**DEFAULTS, **config}  # an explicit null means what it means to transformers
    act = c["hidden_activation"]
    if act not in ("gelu_pytorch_tanh", "gelu_new", "gelu_fast"):
        raise UnsupportedConfigError(f"gemma3n_text hidden_activation {act!r}: zoo's Gemma MLP "
                                     f"is GeGLU with tanh GELU")
    layers = get(c, "num_hidden_layers")
    kinds = _layer_kinds(c, layers)
    shared = c["num_kv_shared_layers"]
    if not isinstance(shared, int) or isinstance(shared, bool) or not 0 <= shared < layers:
        raise UnsupportedConfigError(f"gemma3n_text num_kv_shared_layers is {describe(shared)} "
                                     f"of {layers} layers; expected 0 or more, leaving a layer "
                                     f"to make keys and values")
    for key in WIDTHS:
        value = c[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UnsupportedConfigError(f"gemma3n_text {key} is {describe(value)}; expected a "
                                         f"positive integer")
    _check_sparsity(c, layers)
    bias = bool(c["attention_bias"])
    out: Config = dict(
        n_layer=layers, d_model=get(c, "hidden_size"), n_head=get(c, "num_attention_heads"),
        n_kv_head=get(c, "num_key_value_heads"), d_head=get(c, "head_dim"),
        d_ff=_mlp_width(c, layers), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), position="rotary",
        norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"), norm_position="sandwich",
        qk_norm="head", value_norm=True, scale_embeddings=True, activation="geglu",
        bias=False, qkv_bias=bias, attn_out_bias=bias, query_pre_attn_scalar=1.0,
        final_softcap=c["final_logit_softcapping"] or None,
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=shortest_period(kinds), **_read_rope(c, kinds),
        per_layer_embed_dim=c["hidden_size_per_layer_input"],
        altup_streams=c["altup_num_inputs"], laurel_rank=c["laurel_rank"])
    if "local" in kinds:
        out["local_window"] = get(c, "sliding_window")
    if shared:
        out["kv_shared_layers"] = shared
    if c["vocab_size_per_layer_input"] != out["vocab_size"]:
        out["per_layer_vocab"] = c["vocab_size_per_layer_input"]
    return out


def read_gemma3n_multimodal(c: Mapping[str, Any]) -> Config:
    """The text decoder of a Gemma 3n image-audio-text model; its MobileNet-V5 vision tower
    (a timm model) and its audio encoder, with their embedders into the text width, are not
    counted here. Its head is the wrapper's, tied to the decoder's embedding by the wrapper's
    own tie_word_embeddings (default true), not by text_config's."""
    text = read_gemma3n(c.get("text_config") or {})
    text["tie_embeddings"] = bool(c.get("tie_word_embeddings", True))
    return text_decoder_of(text, "Gemma3nForConditionalGeneration",
                           "vision and audio towers and their embedders")


# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 925
ENTRIES = (
    Architecture(model_type="gemma3n_text", hf_class="Gemma3nForCausalLM", read=read_gemma3n,
                 write=refuse_write, tensors={}, prefix="model.", nearest="gemma4_text"),
    Architecture(model_type="gemma3n", hf_class="Gemma3nForConditionalGeneration",
                 read=read_gemma3n_multimodal, write=refuse_write, tensors={},
                 prefix="model.language_model.", nearest="gemma4"),
)
