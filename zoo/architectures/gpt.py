"""OpenAI's GPT (openai-gpt) and GPT-2 (gpt2): Conv1D projections, stored [in, out]."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    activation,
    activation_to_hf,
    get,
    linear,
    norm,
    same,
)
from zoo.spec import ModelSpec

LAYER = "transformer.h.{i}"
BLOCK = {
    **norm("blocks.{i}.norm1", f"{LAYER}.ln_1"),
    **norm("blocks.{i}.norm2", f"{LAYER}.ln_2"),
    **linear("blocks.{i}.attn.qkv", f"{LAYER}.attn.c_attn", "transpose"),
    **linear("blocks.{i}.attn.out", f"{LAYER}.attn.c_proj", "transpose"),
    **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.c_fc", "transpose"),
    **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.c_proj", "transpose"),
}


def read_openai_gpt(c: Mapping[str, Any]) -> Config:
    d = get(c, "n_embd", "hidden_size")
    return dict(n_layer=get(c, "n_layer", "num_hidden_layers"), d_model=d,
                n_head=get(c, "n_head", "num_attention_heads"), d_ff=4 * d,
                vocab_size=get(c, "vocab_size"), context_length=get(c, "n_positions", "n_ctx"),
                # openai-gpt's "gelu" is the tanh form (transformers maps it to gelu_new)
                activation=activation({"gelu": "gelu_new"}.get(c.get("afn", "gelu"),
                                                               c.get("afn")), "afn"),
                norm_eps=get(c, "layer_norm_epsilon", default=1e-5), norm_position="post",
                final_norm=False, tie_embeddings=c.get("tie_word_embeddings", True))


def write_openai_gpt(s: ModelSpec) -> Config:
    return {"n_layer": s.n_layer, "n_embd": s.d_model, "n_head": s.n_head,
            "n_positions": s.context_length,
            "afn": {"gelu_tanh": "gelu", "relu": "relu", "silu": "silu"}.get(s.activation, "?"),
            "layer_norm_epsilon": s.norm_eps}


def read_gpt2(c: Mapping[str, Any]) -> Config:
    if c.get("scale_attn_by_inverse_layer_idx") or c.get("reorder_and_upcast_attn"):
        raise UnsupportedConfigError("GPT-2 configs with scale_attn_by_inverse_layer_idx or "
                                     "reorder_and_upcast_attn are not supported")
    d = get(c, "n_embd", "hidden_size")
    return dict(n_layer=get(c, "n_layer"), d_model=d, n_head=get(c, "n_head"),
                d_ff=get(c, "n_inner", default=4 * d), vocab_size=get(c, "vocab_size"),
                context_length=get(c, "n_positions", "n_ctx"),
                activation=activation(c.get("activation_function", "gelu_new"),
                                      "activation_function"),
                norm_eps=get(c, "layer_norm_epsilon", default=1e-5),
                scale_attention=c.get("scale_attn_weights", True),
                tie_embeddings=c.get("tie_word_embeddings", True))


def write_gpt2(s: ModelSpec) -> Config:
    return {"n_layer": s.n_layer, "n_embd": s.d_model, "n_head": s.n_head, "n_inner": s.d_ff,
            "n_positions": s.context_length, "n_ctx": s.context_length,
            "activation_function": activation_to_hf(s), "layer_norm_epsilon": s.norm_eps,
            "scale_attn_weights": s.scale_attention}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 10
ENTRIES = (
    Architecture(
        model_type="openai-gpt", hf_class="OpenAIGPTLMHeadModel", read=read_openai_gpt,
        write=write_openai_gpt, prefix="transformer.", aliases=("openai_gpt",),
        tensors={**same("embed.weight", "transformer.tokens_embed.weight"),
                 **same("positions.weight", "transformer.positions_embed.weight"),
                 **BLOCK, **same("head.weight", "lm_head.weight")}),
    Architecture(
        model_type="gpt2", hf_class="GPT2LMHeadModel", read=read_gpt2, write=write_gpt2,
        prefix="transformer.",
        tensors={**same("embed.weight", "transformer.wte.weight"),
                 **same("positions.weight", "transformer.wpe.weight"),
                 **BLOCK, **norm("final_norm", "transformer.ln_f"),
                 **same("head.weight", "lm_head.weight")}),
)
