"""AI2's OLMo 1 (olmo; the -hf checkpoints, OlmoForCausalLM): LLaMA's block with a LayerNorm that
has no parameters at all (no weight, no bias, eps 1e-5 in the class itself), q, k and v
optionally clipped after their projections (`clip_qkv`), and optional attention biases."""

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
    read_rope,
    same,
    write_rope,
)
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
MLP = f"{LAYER}.mlp"
# transformers' OlmoConfig defaults (OLMo-7B's shapes; num_key_value_heads None: the heads)
DEFAULTS = {"vocab_size": 50304, "hidden_size": 4096, "intermediate_size": 11008,
            "num_hidden_layers": 32, "num_attention_heads": 32, "hidden_act": "silu",
            "max_position_embeddings": 2048, "tie_word_embeddings": False,
            "attention_bias": False}
NORM_EPS = 1e-5  # OlmoLayerNorm's own; the config has no key for it


def read(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, DEFAULTS)
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    if c["hidden_act"] not in ("silu", "swish"):
        raise UnsupportedConfigError(f"hidden_act {c['hidden_act']!r}: zoo's gated MLP here is "
                                     f"SwiGLU (silu)")
    rope = read_rope(c)
    if rope["rotary_fraction"] != 1.0:
        raise UnsupportedConfigError("partial_rotary_factor: OLMo rotates whole heads")
    bias = bool(c["attention_bias"])
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
                n_kv_head=get(c, "num_key_value_heads", default=heads),
                # OlmoAttention takes an extra head_dim key where the config has one
                d_head=get(c, "head_dim", default=d // heads), d_ff=get(c, "intermediate_size"),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary", **rope,
                norm="nonparametric_layernorm", norm_eps=NORM_EPS, activation="swiglu",
                bias=False, qkv_bias=bias, attn_out_bias=bias,
                qkv_clip=None if c.get("clip_qkv") is None else float(c["clip_qkv"]),
                tie_embeddings=c["tie_word_embeddings"])


def write(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "head_dim": s.head_dim, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": "silu",
            "attention_bias": s.has_bias("qkv"), "clip_qkv": s.qkv_clip, **write_rope(s, {})}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 214
ENTRIES = (Architecture(
    model_type="olmo", hf_class="OlmoForCausalLM", read=read, write=write, prefix="model.",
    tensors={**same("embed.weight", "model.embed_tokens.weight"),
             **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj",
                                             f"{ATTN}.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
             **fused("blocks.{i}.mlp.fc_in", (f"{MLP}.gate_proj", f"{MLP}.up_proj"), "gate_up"),
             **linear("blocks.{i}.mlp.fc_out", f"{MLP}.down_proj"),
             **same("head.weight", "lm_head.weight")}),)
