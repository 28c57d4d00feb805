"""Microsoft's Phi-1, Phi-1.5 and Phi-2 (phi): one LayerNorm feeding attention and MLP side
by side (GPT-J's parallel block), partial rotary in NeoX's half layout, biases everywhere, the
output head's included. `qk_layernorm` (a LayerNorm of each q and k head, which no published
Phi checkpoint sets) is refused: zoo's QK-norm is an RMSNorm.

Published configs lean on the class defaults (Phi-2's leaves out nothing that matters, but
partial_rotary_factor defaults to 0.5, not 1): the reader starts from PhiConfig's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
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
# transformers' PhiConfig defaults (num_key_value_heads None means the heads)
DEFAULTS = {"vocab_size": 51200, "hidden_size": 2048, "intermediate_size": 8192,
            "num_hidden_layers": 24, "num_attention_heads": 32, "hidden_act": "gelu_new",
            "max_position_embeddings": 2048, "layer_norm_eps": 1e-5,
            "tie_word_embeddings": False, "qk_layernorm": False}


def read(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, DEFAULTS)
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    if c["qk_layernorm"]:
        raise UnsupportedConfigError("qk_layernorm: Phi's LayerNorm of q and k per head is not "
                                     "supported (zoo's QK-norm is an RMSNorm)")
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
                n_kv_head=get(c, "num_key_value_heads", default=heads),
                # PhiAttention takes an extra head_dim key where the config has one
                d_head=get(c, "head_dim", default=d // heads),
                d_ff=get(c, "intermediate_size"), vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                **read_rope(c, default_fraction=0.5), block="parallel", norm="layernorm",
                norm_eps=get(c, "layer_norm_eps"),
                activation=activation(c["hidden_act"], "hidden_act"), bias=True,
                head_bias=True, tie_embeddings=c["tie_word_embeddings"])


def write(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "head_dim": s.head_dim, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": activation_to_hf(s),
            "layer_norm_eps": s.norm_eps,
            **write_rope(s, {"rotary_fraction": "partial_rotary_factor"}),
            "partial_rotary_factor": s.rotary_fraction}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 211
ENTRIES = (Architecture(
    model_type="phi", hf_class="PhiForCausalLM", read=read, write=write, prefix="model.",
    tensors={**same("embed.weight", "model.embed_tokens.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
             **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj",
                                             f"{ATTN}.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.dense"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.fc1"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.fc2"),
             **norm("final_norm", "model.final_layernorm"),
             **linear("head", "lm_head")}),)
