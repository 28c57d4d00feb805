"""Baidu's ERNIE 4.5 dense models (ernie4_5: ERNIE-4.5-0.3B): LLaMA's block with GPT-J's
interleaved rotary pairs, and one `use_bias` switch for every projection (q, k, v, o and the
MLP's three).

A key the config leaves out takes Ernie4_5Config's default, which is not LLaMA's: two
key/value heads, head_dim 128, a tied head (below). transformers rotates q and k in fp32
whatever the model's dtype; zoo rotates in the model's dtype, which is the same in fp32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Architecture, Config, UnsupportedConfigError, defaults_under
from zoo.architectures.llama import TENSORS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# transformers' Ernie4_5Config defaults, for the keys a config.json may leave out
DEFAULTS = {"vocab_size": 103424, "hidden_size": 1024, "intermediate_size": 3072,
            "num_hidden_layers": 18, "num_attention_heads": 16, "num_key_value_heads": 2,
            "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
            "tie_word_embeddings": True, "use_bias": False, "head_dim": 128}


def read(config: Mapping[str, Any]) -> Config:
    c = defaults_under(config, DEFAULTS)
    bias = bool(c["use_bias"])
    return read_llama_like(c, rotary_style="interleaved", qkv_bias=bias, attn_out_bias=bias,
                           mlp_bias=bias)


def write(s: ModelSpec) -> Config:
    bias = s.has_bias("qkv")
    if s.rotary_style != "interleaved" or s.has_bias("attn_out") != bias \
            or s.has_bias("mlp") != bias:
        raise UnsupportedConfigError("ERNIE 4.5 rotates interleaved pairs and has one bias "
                                     "switch for every projection")
    return {**write_llama_like(s), "use_bias": bias}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 223
ENTRIES = (Architecture(model_type="ernie4_5", hf_class="Ernie4_5ForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)
