"""BigScience's BLOOM (bloom): ALiBi, an embedding norm, q, k, v fused per head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    get,
    linear,
    norm,
    same,
)
from zoo.spec import ModelSpec

LAYER = "transformer.h.{i}"


def read(c: Mapping[str, Any]) -> Config:
    if c.get("apply_residual_connection_post_layernorm"):
        raise UnsupportedConfigError("BLOOM with apply_residual_connection_post_layernorm is "
                                     "not supported")
    d = get(c, "hidden_size", "n_embed")
    return dict(n_layer=get(c, "n_layer", "num_hidden_layers"), d_model=d,
                n_head=get(c, "n_head", "num_attention_heads"), d_ff=4 * d,
                vocab_size=get(c, "vocab_size"), context_length=get(c, "seq_length",
                                                                     default=2048),
                position="alibi", embedding_norm=True, activation="gelu_tanh",
                norm_eps=get(c, "layer_norm_epsilon", default=1e-5),
                tie_embeddings=c.get("tie_word_embeddings", True))


def write(s: ModelSpec) -> Config:
    return {"n_layer": s.n_layer, "hidden_size": s.d_model, "n_head": s.n_head,
            "layer_norm_epsilon": s.norm_eps, "seq_length": s.context_length,
            "apply_residual_connection_post_layernorm": False}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 60
ENTRIES = (Architecture(
    model_type="bloom", hf_class="BloomForCausalLM", read=read, write=write,
    prefix="transformer.",
    tensors={**same("embed.weight", "transformer.word_embeddings.weight"),
             **norm("embed_norm", "transformer.word_embeddings_layernorm"),
             **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
             **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
             **linear("blocks.{i}.attn.qkv", f"{LAYER}.self_attention.query_key_value",
                      "qkv_grouped"),
             **linear("blocks.{i}.attn.out", f"{LAYER}.self_attention.dense"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.dense_h_to_4h"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.dense_4h_to_h"),
             **norm("final_norm", "transformer.ln_f"),
             **same("head.weight", "lm_head.weight")}),)
