"""Zhipu's GLM-4 (glm: GLM-4-9B-chat-hf) and GLM-4-0414 (glm4): LLaMA's block with biases on q,
k and v only, half of each head rotated with interleaved pairs (partial_rotary_factor 0.5, set
by the config class when the key is absent), gate and up stored as one gate_up_proj in zoo's
[gate; up] order. GLM-4-0414 adds a norm on each sublayer's output beside the one on its input
(zoo's sandwich placement: input_layernorm, post_self_attn_layernorm, then
post_attention_layernorm before the MLP and post_mlp_layernorm after it).

A key the config leaves out takes GlmConfig's / Glm4Config's default (below), which is not
LLaMA's: two key/value heads, head_dim 128, rms_norm_eps 1.5625e-7, attention_bias true.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
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
# transformers' GlmConfig and Glm4Config defaults (the two agree)
DEFAULTS = {"vocab_size": 151552, "hidden_size": 4096, "intermediate_size": 13696,
            "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 2,
            "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
            "rms_norm_eps": 1.5625e-07, "tie_word_embeddings": False, "attention_bias": True}
COMMON = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
    **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj", f"{ATTN}.v_proj"),
            "qkv"),
    **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
    **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.gate_up_proj"),
    **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.down_proj"),
    **norm("final_norm", "model.norm"),
    **same("head.weight", "lm_head.weight"),
}
GLM4_TENSORS = {**COMMON,
                **norm("blocks.{i}.post_attn_norm", f"{LAYER}.post_self_attn_layernorm"),
                **norm("blocks.{i}.post_mlp_norm", f"{LAYER}.post_mlp_layernorm")}


def _read(config: Mapping[str, Any], norm_position: str) -> Config:
    c = defaults_under(config, DEFAULTS)
    if c["hidden_act"] != "silu":
        raise UnsupportedConfigError(f"hidden_act {c['hidden_act']!r}: zoo's gated MLP here is "
                                     f"SwiGLU (silu)")
    bias = bool(c["attention_bias"])
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=get(c, "hidden_size"),
                n_head=get(c, "num_attention_heads"), n_kv_head=get(c, "num_key_value_heads"),
                d_head=get(c, "head_dim"), d_ff=get(c, "intermediate_size"),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                rotary_style="interleaved", **read_rope(c, default_fraction=0.5),
                norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"), norm_position=norm_position,
                activation="swiglu", bias=False, qkv_bias=bias, attn_out_bias=False,
                mlp_bias=False, tie_embeddings=bool(c["tie_word_embeddings"]))


def _write_common(s: ModelSpec) -> Config:
    if s.rotary_style != "interleaved":
        raise UnsupportedConfigError("GLM rotates interleaved pairs")
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "head_dim": s.head_dim, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": "silu",
            "rms_norm_eps": s.norm_eps, "attention_bias": s.has_bias("qkv"),
            **write_rope(s, {"rotary_fraction": "partial_rotary_factor"}),
            # stated even at 1.0: a config without it means 0.5 to the class
            "partial_rotary_factor": s.rotary_fraction}


def read_glm(c: Mapping[str, Any]) -> Config:
    return _read(c, "pre")


def read_glm4(c: Mapping[str, Any]) -> Config:
    return _read(c, "sandwich")


def write(s: ModelSpec) -> Config:
    config = _write_common(s)
    config["rope_parameters"]["partial_rotary_factor"] = s.rotary_fraction
    return config


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 222
ENTRIES = (
    Architecture(model_type="glm", hf_class="GlmForCausalLM", read=read_glm, write=write,
                 tensors=COMMON, prefix="model."),
    Architecture(model_type="glm4", hf_class="Glm4ForCausalLM", read=read_glm4,
                 write=write, tensors=GLM4_TENSORS, prefix="model."),
)
