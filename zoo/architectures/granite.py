"""IBM's Granite 3.x (granite): LLaMA's computation with four muP-style scalars, none of them a
parameter: embeddings times embedding_multiplier, each sublayer's output times
residual_multiplier before the residual sum, scores times attention_multiplier (in place of
1/sqrt(d_head)) and logits divided by logits_scaling.

GraniteConfig defaults every multiplier to 1.0: a config without attention_multiplier scales
its scores by 1, not by 1/sqrt(d_head), and the reader says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, UnsupportedConfigError, defaults_under
from zoo.architectures.llama import TENSORS, read_llama_like, write_llama_like
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


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 221
ENTRIES = (Architecture(model_type="granite", hf_class="GraniteForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)
