"""Cohere's Command R (cohere) and Command R7B (cohere2): parallel blocks (one LayerNorm, with
a scale and no bias, feeds attention and MLP, whose outputs join the residual together),
GPT-J's interleaved rotary pairs, SwiGLU, a tied head and logits multiplied by logit_scale.
Command R7B slides a window over three layers of four and gives its full-attention layers no
positions at all (NoPE).

A key the config leaves out takes CohereConfig's / Cohere2Config's default (below): the
class defaults are Command R's own shapes, and rope_theta is 500,000 for cohere, 10,000 for
cohere2. A head_dim the file leaves out is hidden_size / heads.
`use_qk_norm` (Command R+) normalises q and k over each head with a LayerNorm without bias,
a scale for every head and dim: zoo's `each_head` QK-norm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    defaults_under,
    get,
    read_layer_types,
    read_rope,
    write_layer_types,
    write_rope,
)
from zoo.architectures.llama import QK_NORMS
from zoo.architectures.llama import TENSORS as LLAMA_TENSORS
from zoo.spec import ModelSpec

# the input norm is the only one; checkpoints name it input_layernorm
TENSORS = {**{k: v for k, v in LLAMA_TENSORS.items() if not k.startswith("blocks.{i}.norm2")},
           **QK_NORMS}
# transformers' CohereConfig defaults (Cohere2Config's are the same, but for what is below)
DEFAULTS = {"vocab_size": 256000, "hidden_size": 8192, "intermediate_size": 22528,
            "logit_scale": 0.0625, "num_hidden_layers": 40, "num_attention_heads": 64,
            "hidden_act": "silu", "max_position_embeddings": 8192, "layer_norm_eps": 1e-5,
            "tie_word_embeddings": True, "attention_bias": False, "use_qk_norm": False}


def _read(config: Mapping[str, Any], theta: float) -> tuple[Config, dict[str, Any]]:
    c = defaults_under(config, {**DEFAULTS, "rope_theta": theta})
    if c["hidden_act"] != "silu":
        raise UnsupportedConfigError(f"hidden_act {c['hidden_act']!r}: zoo's gated MLP here is "
                                     f"SwiGLU (silu)")
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    bias = bool(c["attention_bias"])
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
                n_kv_head=get(c, "num_key_value_heads", default=heads),
                d_ff=get(c, "intermediate_size"), vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                rotary_style="interleaved", **read_rope(c), norm="layernorm",
                norm_bias=False, norm_eps=get(c, "layer_norm_eps"), block="parallel",
                activation="swiglu", bias=False, qkv_bias=bias, attn_out_bias=bias,
                mlp_bias=False, tie_embeddings=bool(c["tie_word_embeddings"]),
                logit_scale=float(c["logit_scale"]),
                qk_norm="each_head" if c["use_qk_norm"] else "none"), c


def read_cohere(config: Mapping[str, Any]) -> Config:
    out, c = _read(config, 500000.0)
    return {**out, "d_head": get(c, "head_dim", default=out["d_model"] // out["n_head"])}


def read_cohere2(config: Mapping[str, Any]) -> Config:
    """Command R7B: layer_types, or every `sliding_window_pattern`-th layer (4) full; the full
    layers are the ones without rotary."""
    out, c = _read(config, 10000.0)
    out["d_head"] = get(c, "head_dim", default=out["d_model"] // out["n_head"])
    layers = out["n_layer"]
    if not c.get("layer_types"):
        period = c.get("sliding_window_pattern", 4)
        c["layer_types"] = ["sliding_attention" if (i + 1) % period else "full_attention"
                            for i in range(layers)]
    pattern = read_layer_types(c, c.get("sliding_window", 4096))
    kinds = pattern.get("attention_pattern", ["global"])
    # Cohere2 has no QK-norm: its class never reads use_qk_norm
    return {**out, **pattern, "rotary_pattern": [kind == "local" for kind in kinds],
            "qk_norm": "none"}


def _write(s: ModelSpec) -> Config:
    bias = s.has_bias("qkv")
    if s.rotary_style != "interleaved" or s.has_bias("attn_out") != bias or s.has_bias("mlp"):
        raise UnsupportedConfigError("Command R rotates interleaved pairs, with one bias switch "
                                     "for the attention's projections and none in the MLP")
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "intermediate_size": s.d_ff, "max_position_embeddings": s.context_length,
            "hidden_act": "silu", "layer_norm_eps": s.norm_eps, "attention_bias": bias,
            "logit_scale": s.logit_scale, **write_rope(s, {})}


def write_cohere(s: ModelSpec) -> Config:
    return {**_write(s), "head_dim": s.head_dim, "use_qk_norm": s.qk_norm == "each_head"}


def write_cohere2(s: ModelSpec) -> Config:
    if s.qk_norm != "none":
        raise UnsupportedConfigError("Cohere2 has no QK-norm")
    return {**_write(s), "head_dim": s.head_dim, "sliding_window": s.local_window,
            "layer_types": write_layer_types(s)}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 224
ENTRIES = (
    Architecture(model_type="cohere", hf_class="CohereForCausalLM", read=read_cohere,
                 write=write_cohere, tensors=TENSORS, prefix="model."),
    Architecture(model_type="cohere2", hf_class="Cohere2ForCausalLM", read=read_cohere2,
                 write=write_cohere2, tensors=TENSORS, prefix="model."),
)
