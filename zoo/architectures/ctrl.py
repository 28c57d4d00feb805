"""Salesforce's CTRL (ctrl): the paper's sinusoidal positions (sinusoid_style vaswani, from 0),
the token embedding times sqrt(n_embd), LayerNorms before each sublayer (eps 1e-6, fixed by
the class) and at the end (layer_norm_epsilon), biases on every projection, a ReLU MLP, and a
bias on the output head, whose weight is the embedding unless tie_word_embeddings says not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    counted_only,
    fused,
    get,
    linear,
    norm,
    same,
    with_defaults,
)
from zoo.spec import ModelSpec

DEFAULTS = {"vocab_size": 246534, "n_positions": 256, "n_embd": 1280, "dff": 8192,
            "n_layer": 48, "n_head": 16, "layer_norm_epsilon": 1e-6,
            "tie_word_embeddings": True}
BLOCK_EPS = 1e-6  # EncoderLayer's two LayerNorms, whatever the config says
LAYER = "transformer.h.{i}"
ATTN = f"{LAYER}.multi_head_attention"


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    d = get(c, "n_embd")
    out = dict(n_layer=get(c, "n_layer"), d_model=d, n_head=get(c, "n_head"),
               d_ff=get(c, "dff"), vocab_size=get(c, "vocab_size"),
               context_length=get(c, "n_positions"), position="sinusoidal",
               sinusoid_style="vaswani", embedding_multiplier=math.sqrt(d), norm="layernorm",
               norm_eps=BLOCK_EPS, activation="relu", bias=True, head_bias=True,
               tie_embeddings=bool(c["tie_word_embeddings"]))
    eps = get(c, "layer_norm_epsilon")
    if eps != BLOCK_EPS:  # the final norm's alone: zoo's norms share one epsilon
        counted_only(out, f"layer_norm_epsilon {eps} (the final norm's, beside the layers' "
                          f"{BLOCK_EPS}) is not built")
    return out


def write(s: ModelSpec) -> Config:
    if s.embedding_multiplier != math.sqrt(s.d_model):
        raise UnsupportedConfigError("CTRL scales its embedding by sqrt(n_embd)")
    return {"n_layer": s.n_layer, "n_embd": s.d_model, "n_head": s.n_head, "dff": s.d_ff,
            "n_positions": s.context_length, "layer_norm_epsilon": s.norm_eps}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 301
ENTRIES = (Architecture(
    model_type="ctrl", hf_class="CTRLLMHeadModel", read=read, write=write,
    prefix="transformer.",
    tensors={**same("embed.weight", "transformer.w.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.layernorm1"),
             **fused("blocks.{i}.attn.qkv", (f"{ATTN}.Wq", f"{ATTN}.Wk", f"{ATTN}.Wv"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.dense"),
             **norm("blocks.{i}.norm2", f"{LAYER}.layernorm2"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.ffn.0"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.ffn.2"),
             **norm("final_norm", "transformer.layernorm"),
             **linear("head", "lm_head")}),)
