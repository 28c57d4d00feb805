"""AI2's OLMo 2 (olmo2): norms on each sublayer's output (none on its input), and QK-norm over
the whole q and k projections. OLMo 3 (olmo3) adds sliding-window layers (layer_types; three of
four by default) and rotary per layer type: rope scaling on the full layers only.

Olmo3Config in transformers 5.25 builds `rope_parameters` per layer type: a legacy `rope_theta`
goes to the full layers alone (the sliding layers keep the class's 500,000), a legacy
`rope_scaling` is merged into the full layers' parameters, and a flat `rope_parameters` (one
set, not per layer type) is not read at all. The reader follows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    get,
    local_rotary,
    norm,
    read_layer_types,
    read_rope,
    rope_parameters,
    with_defaults,
    write_layer_types,
)
from zoo.architectures.llama import (
    LLAMA_DEFAULTS,
    QK_NORMS,
    TENSORS,
    read_llama_like,
    write_llama_like,
)
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
INPUT_NORMS = ("blocks.{i}.norm1.weight", "blocks.{i}.norm2.weight")


# Olmo2Config's defaults for the keys read
DEFAULTS = {**LLAMA_DEFAULTS, "vocab_size": 50304, "rms_norm_eps": 1e-5}


def read(c: Mapping[str, Any]) -> Config:
    # Olmo2RMSNorm multiplies its weight before the cast back (norm_fp32_scale)
    return read_llama_like(c, DEFAULTS, norm_position="output", qk_norm="projection",
                           mlp_bias=False, norm_fp32_scale=True)


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv")}


# Olmo3Config's defaults for the keys read (its rope_theta when nothing sets one: 500,000)
OLMO3 = {**DEFAULTS, "sliding_window": 4096}
OLMO3_THETA = 500000.0
SCALED = ("llama3", "yarn", "longrope")


def _layer_rope(c: Mapping[str, Any], layer_type: str, theta: float) -> Config:
    """One layer type's rope parameters as Olmo3Config settles them (a legacy rope_scaling
    merged into the full layers'), read as zoo's rope fields."""
    nested = c.get("rope_parameters") or {}
    params = dict(nested.get(layer_type) or {"rope_type": "default"})
    if layer_type == "full_attention":
        params.update(c.get("rope_scaling") or {})
    params.setdefault("rope_type", params.get("type", "default"))
    params.setdefault("rope_theta", theta)
    if params["rope_type"] in SCALED:
        params.setdefault("original_max_position_embeddings", get(c, "max_position_embeddings"))
    return read_rope({"max_position_embeddings": c["max_position_embeddings"]}, params=params)


def read_olmo3(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, OLMO3)
    layers = get(c, "num_hidden_layers")
    if not c.get("layer_types"):
        c["layer_types"] = ["sliding_attention" if (i + 1) % 4 else "full_attention"
                            for i in range(layers)]
    full = _layer_rope(c, "full_attention", c.get("rope_theta", OLMO3_THETA))
    sliding = _layer_rope(c, "sliding_attention", OLMO3_THETA)
    plain = {k: v for k, v in c.items() if k not in ("rope_parameters", "rope_scaling")}
    out = {**read_llama_like(plain, OLMO3, norm_position="output", qk_norm="projection",
                             mlp_bias=False, norm_fp32_scale=True), **full,
           **read_layer_types(c, c.get("sliding_window"))}
    if "local" in out.get("attention_pattern", ()):
        local_rotary(out, sliding)
    return out


def write_olmo3(s: ModelSpec) -> Config:
    local = s.local_rope_theta if s.local_rope_theta is not None else s.rope_theta
    if s.local_rope_theta is None and s.has_local and s.rope_scaling is not None:
        raise UnsupportedConfigError("OLMo 3's sliding layers are never scaled")
    config = {k: v for k, v in write_llama_like(s).items()
              if k not in ("rope_theta", "rope_scaling")}
    return {**config, "attention_bias": s.has_bias("qkv"),
            "sliding_window": s.local_window if s.has_local else None,
            "layer_types": write_layer_types(s),
            "rope_parameters": {"full_attention": rope_parameters(s),
                                "sliding_attention": rope_parameters(s, theta=local,
                                                                     scaled=False)}}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 120
OUTPUT_NORMS = {**{k: v for k, v in TENSORS.items() if k not in INPUT_NORMS}, **QK_NORMS,
                **norm("blocks.{i}.post_attn_norm", f"{LAYER}.post_attention_layernorm"),
                **norm("blocks.{i}.post_mlp_norm", f"{LAYER}.post_feedforward_layernorm")}
ENTRIES = (
    Architecture(model_type="olmo2", hf_class="Olmo2ForCausalLM", read=read, write=write,
                 prefix="model.", tensors=OUTPUT_NORMS),
    Architecture(model_type="olmo3", hf_class="Olmo3ForCausalLM", read=read_olmo3,
                 write=write_olmo3, prefix="model.", tensors=OUTPUT_NORMS),
)
