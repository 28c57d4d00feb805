"""DiffLlama (diffllama): LLaMA's layer with differential attention (Ye et al. 2024, arXiv
2410.05258): query heads in pairs n_head / 2 apart, each attending to the two halves of the
value heads side by side, the pair's difference weighted by a scalar made of four learned
head-width vectors per layer, normalised by a weightless RMSNorm (zoo.model.attention's
`Attention._differential`); attention_bias on q, k, v and the output, no MLP biases. An odd
num_key_value_heads (which transformers refuses) is refused by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, UnsupportedConfigError, same, with_defaults
from zoo.architectures.llama import ATTN, TENSORS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# DiffLlamaConfig's defaults for the keys read (num_key_value_heads null: as many as the heads)
DEFAULTS = {"vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 8192,
            "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": None,
            "hidden_act": "silu", "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
            "tie_word_embeddings": False, "attention_bias": False, "head_dim": None}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    bias = bool(c["attention_bias"])
    out = read_llama_like(c, differential_attention=True, qkv_bias=bias, attn_out_bias=bias,
                          mlp_bias=False)
    if out["n_kv_head"] % 2:
        raise UnsupportedConfigError(f"num_key_value_heads {out['n_kv_head']} is odd: "
                                     f"differential attention splits the value heads in two")
    return out


def write(s: ModelSpec) -> Config:
    if not s.differential_attention:
        raise UnsupportedConfigError("DiffLlama's attention is differential")
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv")}


TENSORS = {**TENSORS, **{k: v for w in ("q1", "k1", "q2", "k2")
                         for k, v in same(f"blocks.{{i}}.attn.lambda_{w}",
                                          f"{ATTN}.lambda_{w}").items()}}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 275
ENTRIES = (Architecture(model_type="diffllama", hf_class="DiffLlamaForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)
