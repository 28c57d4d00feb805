"""IBM's Granite 3.x (granite): LLaMA's computation with four muP-style scalars, none of them a
parameter: embeddings times embedding_multiplier, each sublayer's output times
residual_multiplier before the residual sum, scores times attention_multiplier (in place of
1/sqrt(d_head)) and logits divided by logits_scaling.

GraniteConfig defaults every multiplier to 1.0: a config without attention_multiplier scales
its scores by 1, not by 1/sqrt(d_head), and the reader says so.

NAVER's HyperCLOVA X SEED (hyperclovax) is Granite with an RMSNorm on each sublayer's output
too (use_post_norm, Peri-LN: zoo's sandwich placement; the residual multiplier applies after
it), logits multiplied by logits_scaling (not divided) and attention_multiplier defaulting to
1/sqrt(head_dim).

Granite SWA (granite_swa; granitemoe_swa: Granite MoE Shared likewise, in granitemoe.py) is
Granite with a learned sink logit per head in every layer,
sliding-window layers (layer_types; by default every fourth layer, the first among them, is
full) and a rotary base per layer (layer_rope_theta; 0: no positions), each scaled alike by
rope_parameters. zoo gives the full and the sliding layers one base each (local_rope_theta,
unscaled): other per-layer bases are counted, not built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    LAYER_TYPES,
    Architecture,
    Config,
    UnsupportedConfigError,
    counted_only,
    defaults_under,
    get,
    norm,
    read_layer_types,
    same,
    shortest_period,
    with_defaults,
    write_layer_types,
)
from zoo.architectures.llama import ATTN, LAYER, TENSORS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# transformers' GraniteConfig defaults, for the keys a config.json may leave out (the head
# count of key/value heads defaults to the query heads, as LLaMA's)
DEFAULTS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
            "num_hidden_layers": 32, "num_attention_heads": 32, "hidden_act": "silu",
            "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "tie_word_embeddings": False}


def read(config: Mapping[str, Any]) -> Config:
    c = defaults_under(config, DEFAULTS)
    attention_bias = bool(c.get("attention_bias", False))
    if c.get("mlp_bias") and not attention_bias:
        raise UnsupportedConfigError("mlp_bias without attention_bias is not supported")
    scaling = float(c.get("logits_scaling", 1.0))
    return read_llama_like(
        c,
        embedding_multiplier=float(c.get("embedding_multiplier", 1.0)),
        residual_multiplier=float(c.get("residual_multiplier", 1.0)),
        attention_multiplier=float(c.get("attention_multiplier", 1.0)),
        logit_scale=1.0 / scaling)


def write(s: ModelSpec) -> Config:
    if s.attention_multiplier is None or not s.scale_attention \
            or s.query_pre_attn_scalar is not None:
        raise UnsupportedConfigError("granite states its score scale as attention_multiplier")
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "mlp_bias": s.has_bias("mlp"), "embedding_multiplier": s.embedding_multiplier,
            "residual_multiplier": s.residual_multiplier,
            "attention_multiplier": s.attention_multiplier,
            "logits_scaling": 1.0 / s.logit_scale}


def read_hyperclovax(config: Mapping[str, Any]) -> Config:
    c = defaults_under(config, DEFAULTS)
    d_head = get(c, "head_dim", default=get(c, "hidden_size") // get(c, "num_attention_heads"))
    out = read({**c, "attention_multiplier": c.get("attention_multiplier", d_head ** -0.5),
                "logits_scaling": 1.0})
    return {**out, "logit_scale": float(c.get("logits_scaling", 1.0)),
            "norm_position": "sandwich" if c.get("use_post_norm", True) else "pre"}


def write_hyperclovax(s: ModelSpec) -> Config:
    if s.norm_position not in ("pre", "sandwich"):
        raise UnsupportedConfigError("HyperCLOVA X normalises each sublayer's input, and with "
                                     "use_post_norm its output too")
    return {**write(s), "logits_scaling": s.logit_scale,
            "use_post_norm": s.norm_position == "sandwich"}


# GraniteSWAConfig's defaults (GraniteConfig's multipliers; num_key_value_heads null: the
# query heads)
SWA_DEFAULTS = {"vocab_size": 100352, "hidden_size": 2560, "intermediate_size": 8192,
                "num_hidden_layers": 24, "num_attention_heads": 20, "num_key_value_heads": 4,
                "hidden_act": "silu", "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
                "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
                "embedding_multiplier": 1.0, "logits_scaling": 1.0,
                "residual_multiplier": 1.0, "attention_multiplier": 1.0,
                "sliding_window": 128}


def read_swa_layers(c: Mapping[str, Any], out: Config) -> Config:
    """The Granite SWA classes' layers (granite_swa, granitemoe_swa): `out` with the attention
    pattern of layer_types (every fourth layer full, the first among them, when it is left out)
    and the rotary of layer_rope_theta (every layer at the rope base when left out)."""
    layers = out["n_layer"]
    types = c.get("layer_types") or ["sliding_attention" if i % 4 else "full_attention"
                                     for i in range(layers)]
    out = {**out, **read_layer_types({"layer_types": types}, c.get("sliding_window"))}
    thetas = c.get("layer_rope_theta") or [out["rope_theta"]] * layers
    if not isinstance(thetas, list) or len(thetas) != layers \
            or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in thetas):
        raise UnsupportedConfigError(f"layer_rope_theta is not {layers} numbers, one a layer")
    bases = {kind: {float(t) for t, k in zip(thetas, types, strict=True)
                    if t and LAYER_TYPES.get(k) == kind} for kind in ("global", "local")}
    out["rotary_pattern"] = shortest_period([bool(t) for t in thetas])
    if any(len(b) > 1 for b in bases.values()):
        return counted_only(out, "layer_rope_theta gives layers of one type different "
                                 "bases: zoo's are one for full, one for sliding layers")
    full, local = (next(iter(bases[kind]), None) for kind in ("global", "local"))
    if full is not None:  # else the rope base, unless only scaled sliding layers rotate
        out["rope_theta"] = full
    elif local is not None and "rope_scaling" in out:
        out["rope_theta"] = local
    if local is not None and local != out["rope_theta"]:
        if "rope_scaling" in out:
            return counted_only(out, "layer_rope_theta with a scaled rotary: zoo's sliding "
                                     "layers with a base of their own are never scaled")
        out["local_rope_theta"] = local
    return out


def write_swa_layers(s: ModelSpec) -> Config:
    """layer_types and layer_rope_theta for a spec the Granite SWA classes compute."""
    if not s.attention_sinks or (s.local_rope_theta is not None and s.rope_scaling is not None):
        raise UnsupportedConfigError("Granite SWA has sinks in every layer, and scales every "
                                     "layer's rotary")
    local = s.local_rope_theta if s.local_rope_theta is not None else s.rope_theta
    thetas = [(local if kind == "local" else s.rope_theta) if rotary else 0
              for kind, rotary in zip(s.layer_kinds, s.layer_rotary, strict=True)]
    return {"sliding_window": s.local_window if s.has_local else None,
            "layer_types": write_layer_types(s), "layer_rope_theta": thetas}


def read_granite_swa(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, SWA_DEFAULTS)
    bias = bool(c["attention_bias"])
    return read_swa_layers(c, read_llama_like(
        c, qkv_bias=bias, attn_out_bias=bias, mlp_bias=bool(c["mlp_bias"]),
        attention_sinks=True, embedding_multiplier=float(c["embedding_multiplier"]),
        residual_multiplier=float(c["residual_multiplier"]),
        attention_multiplier=float(c["attention_multiplier"]),
        logit_scale=1.0 / float(c["logits_scaling"])))


def write_granite_swa(s: ModelSpec) -> Config:
    return {**write(s), **write_swa_layers(s)}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 221
ENTRIES = (
    Architecture(model_type="granite", hf_class="GraniteForCausalLM", read=read, write=write,
                 tensors=TENSORS, prefix="model."),
    Architecture(model_type="hyperclovax", hf_class="HyperCLOVAXForCausalLM",
                 read=read_hyperclovax, write=write_hyperclovax, prefix="model.",
                 tensors={**TENSORS,
                          **norm("blocks.{i}.post_attn_norm", f"{LAYER}.post_norm1"),
                          **norm("blocks.{i}.post_mlp_norm", f"{LAYER}.post_norm2")}),
    Architecture(model_type="granite_swa", hf_class="GraniteSWAForCausalLM",
                 read=read_granite_swa, write=write_granite_swa, prefix="model.",
                 tensors={**TENSORS, **same("blocks.{i}.attn.sinks", f"{ATTN}.sinks")}),
)
