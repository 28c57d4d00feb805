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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    defaults_under,
    get,
    norm,
)
from zoo.architectures.llama import LAYER, TENSORS, read_llama_like, write_llama_like
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
)
