"""Dots Studio's dots3 Note (dots3_note_text, Dots3NoteForCausalLM; dots3_note, the image-audio-
text wrapper, read for its text decoder), counted exactly, not built.

Every layer is DeepSeek's multi-head latent attention (queries through q_lora_rank) with an
RMSNorm on the one shared rotated key (k_rope_only_layernorm: rope_key_norm) and a gate per
head (g_proj, d_model -> heads: attention_head_gate), its geometry set per layer through
transformers' per_layer_config: sliding layers (a window of sliding_window keys, by default the
swa_* keys: 64 heads, a 1024-wide latent, q/k heads of 192 + 64) beside indexed layers (the
plain keys: 128 heads, a 512-wide latent, q/k heads of 128 + 64) that run DeepSeek-V3.2's
indexer; sliding layers have none. zoo reads the sliding geometry as the base fields and the
indexed one as global_n_head, global_kv_lora_rank and global_d_head. A dense first layer
(first_k_dense_replace, moe_layer_freq or mlp_layer_types), then 256 experts routed by sigmoid
scores with a selection-only bias beside a shared MLP of n_shared_experts x
shared_experts_intermediate_size (the legacy moe_shared_expert_intermediate_size).

Dots3NoteTextConfig's __post_init__ rewrites the released checkpoint's keys, and this reader
reads them as it does: sliding_window_size, use_sliding_window (false: every layer full),
use_dsa (false: full layers without an indexer), swa_* into per_layer_config (which a config
may store itself, layer indices as keys, overriding any of the per-layer geometry).

The wrapper's AutoModelForCausalLM is Dots3NoteForCausalLM over the text config (a published
config stores it at the top level); its vision and audio towers are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures import deepseek
from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    counted_only,
    get,
    read_rope,
    text_decoder_of,
    with_defaults,
)
from zoo.architectures.counted import counted_entries

# transformers' Dots3NoteTextConfig class defaults (5.25), for every key read below
DEFAULTS: Config = {
    "vocab_size": 152064, "hidden_size": 5120, "intermediate_size": 13824,
    "moe_intermediate_size": 1536, "num_hidden_layers": 46, "num_attention_heads": 128,
    "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
    "routed_scaling_factor": 1.0, "kv_lora_rank": 512, "q_lora_rank": 1024,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128, "n_group": 1,
    "topk_group": 1, "num_experts_per_tok": 8, "norm_topk_prob": True, "hidden_act": "silu",
    "max_position_embeddings": 524288, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
    "mlp_layer_types": None, "attention_bias": False, "index_topk": 2048,
    "index_head_dim": 128, "index_n_heads": 64, "mlp_bias": False, "head_dim": 256,
    "layer_types": None, "sliding_window": None, "shared_experts_intermediate_size": 1536,
}
# the sliding layers' geometry as __post_init__ reads it from the swa_* keys (its defaults)
SWA_DEFAULTS: Config = {
    "num_attention_heads": 64, "num_key_value_heads": 64, "q_lora_rank": 1024,
    "kv_lora_rank": 1024, "head_dim": 256, "qk_nope_head_dim": 192, "v_head_dim": 128,
}
# the per-layer keys that shape a layer's attention (head_dim only its rotary fraction)
GEOMETRY = ("num_attention_heads", "num_key_value_heads", "q_lora_rank", "kv_lora_rank",
            "head_dim", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
# per_layer_config keys that change no count (the class's rope and norm settings)
UNCOUNTED = ("rms_norm_eps", "attention_dropout", "rope_parameters", "sliding_window")
KINDS = {"sliding_attention": "local", "indexed_attention": "global",
         "full_attention": "global"}


def _layer_types(c: Config, layers: int) -> list[str]:
    """layer_types as __post_init__ sets it: by default the first two layers and every fourth
    from the second full (indexed unless use_dsa is false), the others sliding (all full with
    use_sliding_window false); use_dsa renames one full kind to the other."""
    use_dsa = c.get("use_dsa", None if "per_layer_config" in c else True)
    types = c["layer_types"]
    if types is None:
        full = "full_attention" if use_dsa is False else "indexed_attention"
        sliding = c.get("use_sliding_window", True)
        types = [full if not sliding or i < 2 or i % 4 == 1 else "sliding_attention"
                 for i in range(layers)]
    types = list(types)
    if use_dsa is not None:
        old, new = (("indexed_attention", "full_attention") if not use_dsa
                    else ("full_attention", "indexed_attention"))
        types = [new if kind == old else kind for kind in types]
    if len(types) != layers or not set(types) <= set(KINDS):
        raise UnsupportedConfigError(f"dots3_note_text layer_types {types!r}: expected "
                                     f"{', '.join(KINDS)} for each of {layers} layers")
    if {"indexed_attention", "full_attention"} <= set(types):
        raise UnsupportedConfigError("dots3_note_text layer_types with both indexed_attention "
                                     "and full_attention layers is not supported")
    return types


def _geometry(c: Config, types: list[str]) -> dict[str, Config]:
    """Each layer kind's attention geometry: the plain keys under per_layer_config's entry for
    the layer (by default the swa_* keys on sliding layers); every layer of a kind alike."""
    per_layer = c.get("per_layer_config")
    if per_layer is None:
        swa = {name: c.get(f"swa_{name}", default) for name, default in SWA_DEFAULTS.items()}
        swa["qk_rope_head_dim"] = c.get("swa_qk_rope_head_dim",
                                        swa["head_dim"] - swa["qk_nope_head_dim"])
        per_layer = {i: swa for i, kind in enumerate(types) if kind == "sliding_attention"}
    if not isinstance(per_layer, Mapping):
        raise UnsupportedConfigError(f"dots3_note_text per_layer_config {per_layer!r}: "
                                     f"expected a mapping of layer index to keys")
    per_layer = {int(i): values for i, values in per_layer.items()}
    kinds: dict[str, Config] = {}
    for i, kind in enumerate(types):
        values = per_layer.get(i) or {}
        unknown = sorted(set(values) - set(GEOMETRY) - set(UNCOUNTED))
        if unknown:
            raise UnsupportedConfigError(f"dots3_note_text per_layer_config[{i}] sets "
                                         f"{', '.join(unknown)}: only the attention geometry "
                                         f"({', '.join(GEOMETRY)}) is read per layer")
        geometry = {name: values.get(name, c[name]) for name in GEOMETRY}
        if kinds.setdefault(kind, geometry) != geometry:
            raise UnsupportedConfigError(f"dots3_note_text per_layer_config gives {kind} layers "
                                         f"different geometries (layer {i}): one a kind is "
                                         f"read")
    return kinds


def read_dots3_note_text(c: Mapping[str, Any]) -> Config:
    """Dots3NoteForCausalLM: see the module's docstring. Refused by name: mlp_bias (the class
    builds no MLP bias but refuses the key only on its vision tower), per-kind geometries that
    differ in q_lora_rank, qk_rope_head_dim or v_head_dim (zoo reads one of each), fewer
    key/value heads than heads (the class refuses it), and the attention_bias and activation
    read_latent_dense refuses."""
    c = with_defaults(c, DEFAULTS)
    layers = get(c, "num_hidden_layers")
    types = _layer_types(c, layers)
    kinds = _geometry(c, types)
    for kind, geometry in kinds.items():
        if geometry["num_key_value_heads"] not in (None, geometry["num_attention_heads"]):
            raise UnsupportedConfigError(f"dots3_note_text {kind} num_key_value_heads "
                                         f"{geometry['num_key_value_heads']}: the class needs "
                                         f"as many as num_attention_heads")
        if geometry["q_lora_rank"] is None:
            raise UnsupportedConfigError(f"dots3_note_text {kind} q_lora_rank null: the class "
                                         f"requires a query latent")
    for name in ("q_lora_rank", "qk_rope_head_dim", "v_head_dim"):
        if len({geometry[name] for geometry in kinds.values()}) > 1:
            raise UnsupportedConfigError(f"dots3_note_text with {name} differing between "
                                         f"sliding and full layers (per_layer_config, or the "
                                         f"swa_* keys) is not supported")
    local = kinds.get("sliding_attention")
    full = next((kinds[kind] for kind in ("indexed_attention", "full_attention")
                 if kind in kinds), None)
    base = local or full
    assert base is not None
    rope_kind = next((kind for kind in types if kind != "sliding_attention"),
                     "sliding_attention")
    out = deepseek.read_latent_dense({**c, **base, "num_key_value_heads": None,
                                      **_rope(c, rope_kind)})
    out.update(attention_pattern=[KINDS[kind] for kind in types], rotary_style="interleaved",
               attention_head_gate=True, rope_key_norm=True)
    if local:
        window = c["sliding_window"]
        out["local_window"] = get(c, "sliding_window_size", default=512) if window is None \
            else window
        if full:
            heads, nope = get(full, "num_attention_heads"), get(full, "qk_nope_head_dim")
            out.update(global_n_head=heads, global_kv_lora_rank=get(full, "kv_lora_rank"),
                       global_d_head=nope + get(full, "qk_rope_head_dim"))
    if "indexed_attention" in types:
        out.update(indexer_heads=get(c, "index_n_heads"),
                   indexer_head_dim=get(c, "index_head_dim"), indexer_topk=get(c, "index_topk"))
    if local and full:
        out["local_rope_theta"] = read_rope(_rope(c, "sliding_attention"))["rope_theta"]
    _moe(c, layers, out)
    return counted_only(out, "dots3's per-kind latent geometry, its rotated-key norm and "
                             "per-head gate are counted, not built")


def _rope(c: Config, kind: str) -> Config:
    """The rope keys of one layer kind: rope_parameters keyed by layer type (as the class
    stores them), a flat one, or the legacy rope_theta (80,000,000) and swa_rope_theta
    (50,000)."""
    rope = c.get("rope_parameters") or {}
    if isinstance(rope, Mapping) and kind in rope:
        return {"rope_parameters": rope[kind]}
    if rope:
        return {"rope_parameters": rope}
    legacy = "swa_rope_theta" if kind == "sliding_attention" else "rope_theta"
    return {"rope_parameters": None,
            "rope_theta": c.get(legacy, 50_000.0 if kind == "sliding_attention" else 8e7)}


def _moe(c: Config, layers: int, out: Config) -> None:
    """The MLPs: mlp_layer_types, else dense below first_k_dense_replace (1) and where
    moe_layer_freq (1, or a flag a layer) says; experts beside a shared MLP."""
    if c["mlp_bias"]:
        raise UnsupportedConfigError("dots3_note_text with mlp_bias true is not supported: "
                                     "its MLPs and experts are built without biases")
    types = c["mlp_layer_types"]
    if types is None:
        first, freq = c.get("first_k_dense_replace", 1), c.get("moe_layer_freq", 1)
        types = ["sparse" if i >= first and (bool(freq[i]) if isinstance(freq, (list, tuple))
                                             else i % freq == 0) else "dense"
                 for i in range(layers)]
    types = list(types)
    if len(types) != layers or not set(types) <= {"dense", "sparse"}:
        raise UnsupportedConfigError(f"dots3_note_text mlp_layer_types {types!r}: expected "
                                     f"dense or sparse for each of {layers} layers")
    dense = next((i for i, kind in enumerate(types) if kind != "dense"), layers)
    if types == ["dense"] * dense + ["sparse"] * (layers - dense):
        out["first_dense_layers"] = dense
    else:
        out["mlp_pattern"] = ["moe" if kind == "sparse" else "dense" for kind in types]
    shared = get(c, "n_shared_experts")
    width = c.get("moe_shared_expert_intermediate_size",
                  get(c, "shared_experts_intermediate_size"))
    out.update(n_experts=get(c, "n_routed_experts"),
               experts_per_token=get(c, "num_experts_per_tok"),
               d_ff_expert=get(c, "moe_intermediate_size"), n_shared_experts=shared,
               d_ff_shared=shared * width, router_scoring="sigmoid", routing_bias=True,
               router_normalize=bool(c["norm_topk_prob"]),
               routed_scaling=float(get(c, "routed_scaling_factor")),
               expert_groups=get(c, "n_group"), expert_groups_per_token=get(c, "topk_group"))


def read_dots3_note(c: Mapping[str, Any]) -> Config:
    """The text decoder of a Dots3NoteForConditionalGeneration checkpoint: text_config, or
    the top-level keys (as published), with the wrapper's tie_word_embeddings there."""
    text = c.get("text_config")
    if text is None:
        text = {k: v for k, v in c.items()
                if k not in ("vision_config", "audio_config", "model_type")}
        text["tie_word_embeddings"] = c.get("tie_word_embeddings", False)
    elif not isinstance(text, Mapping):
        raise UnsupportedConfigError(f"dots3_note text_config {text!r}: expected a mapping")
    return text_decoder_of(read_dots3_note_text(text), "Dots3NoteForConditionalGeneration",
                           "vision tower (a mixture of experts), audio encoder and their "
                           "adapters (not counted by zoo)")


# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 938
ENTRIES = counted_entries({
    "dots3_note_text": ("Dots3NoteForCausalLM", "deepseek_v32", read_dots3_note_text),
    "dots3_note": ("Dots3NoteForCausalLM", "deepseek_v32", read_dots3_note)})
