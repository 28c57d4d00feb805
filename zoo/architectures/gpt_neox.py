"""EleutherAI's GPT-NeoX and Pythia (gpt_neox): q, k, v fused per head, partial rotary; and
ABEJA's GPT-NeoX Japanese (gpt_neox_japanese): the same fusion in a sequential pre-norm block,
no biases but the last layer's attention output bias (dense_bias)."""

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
    read_rope,
    same,
    with_defaults,
    write_rope,
)
from zoo.spec import ModelSpec

LAYER = "gpt_neox.layers.{i}"


def read(c: Mapping[str, Any]) -> Config:
    bias = c.get("attention_bias", True)
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=get(c, "hidden_size"),
                n_head=get(c, "num_attention_heads"), d_ff=get(c, "intermediate_size"),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                **read_rope(c, default_fraction=0.25),
                block="parallel_two_norms" if c.get("use_parallel_residual", True)
                else "sequential",
                activation=activation(c.get("hidden_act", "gelu"), "hidden_act"),
                norm_eps=get(c, "layer_norm_eps", default=1e-5), qkv_bias=bias,
                attn_out_bias=bias, mlp_bias=True,
                tie_embeddings=c.get("tie_word_embeddings", False))


def write(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": activation_to_hf(s),
            "layer_norm_eps": s.norm_eps, "use_parallel_residual": s.block == "parallel_two_norms",
            "attention_bias": s.has_bias("qkv"),
            **write_rope(s, {"rope_theta": "rotary_emb_base", "rotary_fraction": "rotary_pct"}),
            "rotary_pct": s.rotary_fraction}


JAPANESE_DEFAULTS = {
    "vocab_size": 32000, "hidden_size": 2560, "num_hidden_layers": 32,
    "num_attention_heads": 32, "intermediate_multiple_size": 4, "hidden_act": "gelu",
    "max_position_embeddings": 2048, "layer_norm_eps": 1e-5, "tie_word_embeddings": True}
JAPANESE_LAYER = "gpt_neox_japanese.layers.{i}"


def read_japanese(config: Mapping[str, Any]) -> Config:
    """LayerNorms with biases, a fused qkv and an output projection without biases but for the
    last layer's output bias, an MLP of intermediate_multiple_size x hidden_size without
    biases, the rotary settings in rotary_pct and rotary_emb_base (or rope_parameters), the
    head tied unless the config says."""
    c = with_defaults(config, JAPANESE_DEFAULTS)
    d = get(c, "hidden_size")
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=d,
                n_head=get(c, "num_attention_heads"),
                d_ff=int(d * get(c, "intermediate_multiple_size")),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                **read_rope(c), norm="layernorm", norm_eps=get(c, "layer_norm_eps"),
                activation=activation(c["hidden_act"], "hidden_act"), bias=False,
                last_attn_out_bias=True, tie_embeddings=bool(c["tie_word_embeddings"]))


def write_japanese(s: ModelSpec) -> Config:
    if s.d_ff % s.d_model:
        raise UnsupportedConfigError(f"d_ff {s.d_ff} is not a whole multiple of d_model "
                                     f"{s.d_model} (intermediate_multiple_size)")
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "intermediate_multiple_size": s.d_ff // s.d_model,
            "max_position_embeddings": s.context_length, "hidden_act": activation_to_hf(s),
            "layer_norm_eps": s.norm_eps,
            **write_rope(s, {"rope_theta": "rotary_emb_base", "rotary_fraction": "rotary_pct"}),
            "rotary_pct": s.rotary_fraction}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 40
ENTRIES = (Architecture(
    model_type="gpt_neox", hf_class="GPTNeoXForCausalLM", read=read, write=write,
    prefix="gpt_neox.", aliases=("gpt-neox",),
    # transformers 5 names the head lm_head in memory; published checkpoints keep embed_out
    renamed={"embed_out.weight": ("lm_head.weight",)},
    tensors={**same("embed.weight", "gpt_neox.embed_in.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
             **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
             **linear("blocks.{i}.attn.qkv", f"{LAYER}.attention.query_key_value",
                      "qkv_grouped"),
             **linear("blocks.{i}.attn.out", f"{LAYER}.attention.dense"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.dense_h_to_4h"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.dense_4h_to_h"),
             **norm("final_norm", "gpt_neox.final_layer_norm"),
             **same("head.weight", "embed_out.weight")}),
    Architecture(
        model_type="gpt_neox_japanese", hf_class="GPTNeoXJapaneseForCausalLM",
        read=read_japanese, write=write_japanese, prefix="gpt_neox_japanese.",
        tensors={**same("embed.weight", "gpt_neox_japanese.embed_in.weight"),
                 **norm("blocks.{i}.norm1", f"{JAPANESE_LAYER}.input_layernorm"),
                 **norm("blocks.{i}.norm2", f"{JAPANESE_LAYER}.post_attention_layernorm"),
                 **linear("blocks.{i}.attn.qkv", f"{JAPANESE_LAYER}.attention.query_key_value",
                          "qkv_grouped"),
                 **same("blocks.{i}.attn.out.weight", f"{JAPANESE_LAYER}.attention.dense.weight"),
                 # the last layer's alone
                 **same("blocks.{i}.attn.out.bias", f"{JAPANESE_LAYER}.attention.dense_bias"),
                 **linear("blocks.{i}.mlp.fc_in", f"{JAPANESE_LAYER}.mlp.dense_h_to_4h"),
                 **linear("blocks.{i}.mlp.fc_out", f"{JAPANESE_LAYER}.mlp.dense_4h_to_h"),
                 **norm("final_norm", "gpt_neox_japanese.final_layer_norm"),
                 **same("head.weight", "embed_out.weight")}),)
