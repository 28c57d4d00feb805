"""BigCode's StarCoder2 (starcoder2): pre-norm blocks with LayerNorm (weight and bias, whatever
`use_bias` says), grouped-query attention with rotary, a plain two-matrix GELU MLP (`c_fc`,
`c_proj`), biases on every projection by default (`use_bias`), and a sliding window on every
layer when the config sets one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    activation,
    activation_to_hf,
    defaults_under,
    fused,
    get,
    linear,
    norm,
    read_rope,
    same,
    write_rope,
)
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
# transformers' Starcoder2Config defaults (StarCoder2-3B's shapes; sliding_window None: none)
DEFAULTS = {"vocab_size": 49152, "hidden_size": 3072, "intermediate_size": 12288,
            "num_hidden_layers": 30, "num_attention_heads": 24, "num_key_value_heads": 2,
            "hidden_act": "gelu_pytorch_tanh", "max_position_embeddings": 4096,
            "norm_epsilon": 1e-5, "use_bias": True, "tie_word_embeddings": True}


def read(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, DEFAULTS)
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    bias = bool(c["use_bias"])
    out = dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
               n_kv_head=get(c, "num_key_value_heads"),
               # the attention and its rotary take an extra head_dim key where there is one
               d_head=get(c, "head_dim", default=d // heads), d_ff=get(c, "intermediate_size"),
               vocab_size=get(c, "vocab_size"),
               context_length=get(c, "max_position_embeddings"), position="rotary",
               **read_rope(c), norm="layernorm", norm_eps=get(c, "norm_epsilon"),
               activation=activation(c["hidden_act"], "hidden_act"), bias=bias,
               tie_embeddings=c["tie_word_embeddings"])
    if c.get("sliding_window") is not None:
        out.update(attention_pattern=["local"], local_window=c["sliding_window"])
    return out


def write(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "head_dim": s.head_dim, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": activation_to_hf(s),
            "norm_epsilon": s.norm_eps, "use_bias": s.has_bias("qkv"),
            "sliding_window": s.local_window if s.has_local else None, **write_rope(s, {})}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 213
ENTRIES = (Architecture(
    model_type="starcoder2", hf_class="Starcoder2ForCausalLM", read=read, write=write,
    prefix="model.",
    tensors={**same("embed.weight", "model.embed_tokens.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
             **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
             **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj",
                                             f"{ATTN}.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.c_fc"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.c_proj"),
             **norm("final_norm", "model.norm"),
             **same("head.weight", "lm_head.weight")}),)
