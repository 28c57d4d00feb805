"""ModernBERT's decoder (model_type modernbert-decoder, ModernBertDecoderForCausalLM: the
Ettin decoders), counted exactly, not built.

ModernBERT's layers run causally: a LayerNorm after the token embedding, then per layer a
LayerNorm (none on the first layer, the embedding norm standing in), multi-head attention with
rotary (one base on full layers, another on sliding ones; every global_attn_every_n_layers-th
layer full, the rest see local_attention / 2 keys), a LayerNorm and a gated MLP (Wi: d_model ->
2 x intermediate_size, Wo back); a final LayerNorm. The head is BERT's prediction head: a
d_model x d_model dense (classifier_bias), the activation and a LayerNorm, then the decoder
(decoder_bias), tied to the embedding by tie_word_embeddings. Every LayerNorm has a bias only
with norm_bias; attention_bias and mlp_bias set the projections' biases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    ACT_FROM_HF,
    Config,
    UnsupportedConfigError,
    get,
    read_rope,
    shortest_period,
    with_defaults,
)
from zoo.architectures.counted import Reader, counted_entries

# transformers' ModernBertDecoderConfig class defaults (5.25), for every key read below
DEFAULTS: Config = {
    "vocab_size": 50368, "hidden_size": 768, "intermediate_size": 1152,
    "num_hidden_layers": 22, "num_attention_heads": 12, "hidden_activation": "gelu",
    "max_position_embeddings": 8192, "norm_eps": 1e-5, "norm_bias": False,
    "attention_bias": False, "mlp_bias": False, "decoder_bias": True, "classifier_bias": False,
    "local_attention": 128, "layer_types": None, "tie_word_embeddings": True,
    "rope_parameters": None, "global_attn_every_n_layers": 3,
    "global_rope_theta": 160_000.0, "local_rope_theta": 10_000.0,
}
LAYER_TYPES = {"full_attention": "global", "sliding_attention": "local"}


def _rope(c: Mapping[str, Any], kinds: list[str]) -> Config:
    """Rotary per layer type as the class sets it: rope_parameters keyed by layer type, each
    defaulting to its base (global_rope_theta, local_rope_theta), a legacy rope_scaling applied
    to both."""
    params = c["rope_parameters"] or {}
    legacy = c.get("rope_scaling") or {}
    out: Config = {}
    for layer_type, theta in (("full_attention", "global_rope_theta"),
                              ("sliding_attention", "local_rope_theta")):
        own = {**(params.get(layer_type) or {"rope_type": "default"}), **legacy}
        own.setdefault("rope_theta", c[theta])
        own.setdefault("rope_type", own.get("type", "default"))
        out[layer_type] = read_rope(c, params=own)
    full, local = out["full_attention"], out["sliding_attention"]
    if "local" in kinds and "rope_scaling" in local and "global" in kinds:
        raise UnsupportedConfigError("modernbert-decoder with scaled rotary on its sliding "
                                     "layers is not supported")
    if "global" not in kinds:
        return local
    if "local" in kinds and local["rope_theta"] != full["rope_theta"]:
        return {**full, "local_rope_theta": local["rope_theta"]}
    return full


def read_modernbert_decoder(c: Mapping[str, Any]) -> Config:
    """ModernBERT decoder's fields; a width the heads do not divide and sliding layers without
    local_attention are refused by name, as the class refuses or mis-builds them."""
    c = with_defaults(c, DEFAULTS)
    layers, width, heads = (get(c, "num_hidden_layers"), get(c, "hidden_size"),
                            get(c, "num_attention_heads"))
    if width % heads:
        raise UnsupportedConfigError(f"modernbert-decoder hidden_size {width} is not a multiple "
                                     f"of num_attention_heads {heads}, as its class requires")
    every = get(c, "global_attn_every_n_layers")
    types = list(c["layer_types"] or ["full_attention" if i % every == 0
                                      else "sliding_attention" for i in range(layers)])
    if len(types) != layers or not set(types) <= set(LAYER_TYPES):
        raise UnsupportedConfigError(f"modernbert-decoder layer_types must give one of "
                                     f"{', '.join(LAYER_TYPES)} for each of num_hidden_layers "
                                     f"{layers} layers")
    kinds = [LAYER_TYPES[t] for t in types]
    act = c["hidden_activation"]
    if act not in ACT_FROM_HF:
        raise UnsupportedConfigError(f"modernbert-decoder hidden_activation {act!r} is not "
                                     f"supported; zoo knows {', '.join(sorted(ACT_FROM_HF))}")
    out: Config = dict(
        n_layer=layers, d_model=width, n_head=heads, n_kv_head=heads, d_head=width // heads,
        d_ff=int(get(c, "intermediate_size")), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), norm="layernorm",
        norm_eps=get(c, "norm_eps"), norm_bias=bool(c["norm_bias"]), embedding_norm=True,
        first_attn_norm=False, activation="geglu", bias=False,
        qkv_bias=bool(c["attention_bias"]), attn_out_bias=bool(c["attention_bias"]),
        mlp_bias=bool(c["mlp_bias"]), head_bias=bool(c["decoder_bias"]),
        head_transform="dense_bias" if c["classifier_bias"] else "dense",
        tie_embeddings=bool(c["tie_word_embeddings"]), position="rotary", **_rope(c, kinds),
        notes=[f"its MLP's gate is {act}, counted as a gated MLP's two matrices"])
    if "local" in kinds:
        window = c["local_attention"]
        if not window:
            raise UnsupportedConfigError("modernbert-decoder layer_types has sliding layers "
                                         "but local_attention is not set")
        out.update(attention_pattern=shortest_period(kinds), local_window=window // 2)
    return out


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "modernbert-decoder": ("ModernBertDecoderForCausalLM", "gemma2", read_modernbert_decoder),
}

# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 940
ENTRIES = counted_entries(COUNTED)
