"""The fairseq-style decoders: Meta's XGLM (xglm) and Microsoft's BioGPT (biogpt).

Both are OPT's pre-norm layer (LayerNorms of eps 1e-5 before each sublayer and at the end,
biases on every projection, a two-matrix MLP) with the token embedding multiplied by
sqrt(d_model) when scale_embedding (a Python float, in the embedding's dtype: zoo's
embedding_multiplier). XGLM adds fixed sinusoidal positions (fairseq's, counted from index 2),
BioGPT learned ones offset by 2 as OPT's. BioGPT's layer_norm_eps is not read: transformers
builds every LayerNorm of it at 1e-5 whatever the config says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    Source,
    UnsupportedConfigError,
    activation,
    activation_to_hf,
    counted_only,
    fused,
    get,
    linear,
    norm,
    same,
    with_defaults,
)
from zoo.spec import ModelSpec

XGLM_DEFAULTS = {"vocab_size": 256008, "max_position_embeddings": 2048, "d_model": 1024,
                 "ffn_dim": 4096, "num_layers": 24, "attention_heads": 16,
                 "activation_function": "gelu", "scale_embedding": True,
                 "add_cross_attention": False, "pad_token_id": 1, "tie_word_embeddings": True}
BIOGPT_DEFAULTS = {"vocab_size": 42384, "hidden_size": 1024, "num_hidden_layers": 24,
                   "num_attention_heads": 16, "intermediate_size": 4096, "hidden_act": "gelu",
                   "max_position_embeddings": 1024, "scale_embedding": True,
                   "tie_word_embeddings": True}


def _layer(c: Mapping[str, Any], layers: str, width: str, heads: str, ffn: str,
           act: str) -> Config:
    """The fields both classes share, from their own key names."""
    d = get(c, width)
    return dict(n_layer=get(c, layers), d_model=d, n_head=get(c, heads), d_ff=get(c, ffn),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), norm="layernorm",
                norm_eps=1e-5, activation=activation(c[act], act), bias=True,
                embedding_multiplier=math.sqrt(d) if c["scale_embedding"] else 1.0,
                tie_embeddings=bool(c["tie_word_embeddings"]))


def _scale_embedding(s: ModelSpec) -> bool:
    if s.embedding_multiplier not in (1.0, math.sqrt(s.d_model)):
        raise UnsupportedConfigError(f"embedding_multiplier {s.embedding_multiplier}: these "
                                     f"classes scale the embedding by sqrt(d_model) or not")
    return s.embedding_multiplier != 1.0


def read_xglm(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, XGLM_DEFAULTS)
    if c["add_cross_attention"]:
        raise UnsupportedConfigError("XGLM with add_cross_attention (an encoder-attention "
                                     "block in every layer) is not supported")
    out = dict(_layer(c, "num_layers", "d_model", "attention_heads", "ffn_dim",
                      "activation_function"), position="sinusoidal", sinusoid_style="fairseq",
               position_offset=2)
    pad = c["pad_token_id"]
    if isinstance(pad, int) and pad >= 2:  # the table's row pad_token_id is zero
        counted_only(out, f"pad_token_id {pad} zeroes the sinusoid of position {pad - 2}, "
                          f"which zoo's decoder does not")
    return out


def write_xglm(s: ModelSpec) -> Config:
    return {"num_layers": s.n_layer, "d_model": s.d_model, "attention_heads": s.n_head,
            "ffn_dim": s.d_ff, "max_position_embeddings": s.context_length,
            "activation_function": activation_to_hf(s), "scale_embedding": _scale_embedding(s),
            "add_cross_attention": False}


def read_biogpt(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, BIOGPT_DEFAULTS)
    return dict(_layer(c, "num_hidden_layers", "hidden_size", "num_attention_heads",
                       "intermediate_size", "hidden_act"), position="learned", position_offset=2)


def write_biogpt(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": activation_to_hf(s),
            "scale_embedding": _scale_embedding(s)}


def _tensors(base: str, head: str, positions: str | None = None) -> dict[str, Source]:
    layer, attn = f"{base}.layers.{{i}}", f"{base}.layers.{{i}}.self_attn"
    return {**same("embed.weight", f"{base}.embed_tokens.weight"),
            **(same("positions.weight", positions) if positions else {}),
            **norm("blocks.{i}.norm1", f"{layer}.self_attn_layer_norm"),
            **fused("blocks.{i}.attn.qkv", (f"{attn}.q_proj", f"{attn}.k_proj",
                                            f"{attn}.v_proj"), "qkv"),
            **linear("blocks.{i}.attn.out", f"{attn}.out_proj"),
            **norm("blocks.{i}.norm2", f"{layer}.final_layer_norm"),
            **linear("blocks.{i}.mlp.fc_in", f"{layer}.fc1"),
            **linear("blocks.{i}.mlp.fc_out", f"{layer}.fc2"),
            **norm("final_norm", f"{base}.layer_norm"),
            **same("head.weight", head)}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 300
ENTRIES = (
    Architecture(model_type="xglm", hf_class="XGLMForCausalLM", read=read_xglm,
                 write=write_xglm, prefix="model.",
                 tensors=_tensors("model", "lm_head.weight")),
    Architecture(model_type="biogpt", hf_class="BioGptForCausalLM", read=read_biogpt,
                 write=write_biogpt, prefix="biogpt.",
                 tensors=_tensors("biogpt", "output_projection.weight",
                                  "biogpt.embed_positions.weight")),
)
