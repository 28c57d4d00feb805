"""Stability AI's StableLM 2 and StableLM-3B-4E1T (stablelm): LLaMA's SwiGLU MLP and
attention with LayerNorm (weight and bias), partial rotary (a quarter of each head by default),
optional q/k/v biases (`use_qkv_bias`), and optionally GPT-J's parallel block with one norm
(`use_parallel_residual`).

`qk_layernorm` (StableLM 2 12B: a LayerNorm of its own for every q and k head) is refused:
zoo's QK-norm shares one norm across the heads.
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
MLP = f"{LAYER}.mlp"
# transformers' StableLmConfig defaults (StableLM-3B-4E1T's shapes)
DEFAULTS = {"vocab_size": 50304, "intermediate_size": 6912, "hidden_size": 2560,
            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
            "hidden_act": "silu", "max_position_embeddings": 4096, "layer_norm_eps": 1e-5,
            "tie_word_embeddings": False, "use_qkv_bias": False, "qk_layernorm": False,
            "use_parallel_residual": False}
GATES = {"silu": "swiglu", "swish": "swiglu", "gelu_pytorch_tanh": "geglu"}


def read(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, DEFAULTS)
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    if c["qk_layernorm"]:
        raise UnsupportedConfigError("qk_layernorm: StableLM's LayerNorm per q and k head (one "
                                     "norm for each head) is not supported")
    if c.get("head_dim", d // heads) != d // heads:
        raise UnsupportedConfigError(f"head_dim {c['head_dim']}: transformers' StableLM "
                                     f"attention uses hidden_size / heads = {d // heads}")
    act = c["hidden_act"]
    if act not in GATES:
        raise UnsupportedConfigError(f"hidden_act {act!r}: zoo's gated MLP here is "
                                     f"{' or '.join(sorted(GATES))}")
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
                n_kv_head=get(c, "num_key_value_heads"), d_ff=get(c, "intermediate_size"),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                **read_rope(c, default_fraction=0.25), norm="layernorm",
                norm_eps=get(c, "layer_norm_eps"),
                block="parallel" if c["use_parallel_residual"] else "sequential",
                activation=GATES[act], bias=False, qkv_bias=bool(c["use_qkv_bias"]),
                tie_embeddings=c["tie_word_embeddings"])


def write(s: ModelSpec) -> Config:
    if s.d_head is not None and s.head_dim * s.n_head != s.d_model:
        raise UnsupportedConfigError("StableLM's heads are d_model / n_head wide")
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "intermediate_size": s.d_ff, "max_position_embeddings": s.context_length,
            "hidden_act": {"swiglu": "silu", "geglu": "gelu_pytorch_tanh"}.get(s.activation, "?"),
            "layer_norm_eps": s.norm_eps, "use_qkv_bias": s.has_bias("qkv"),
            "use_parallel_residual": s.block == "parallel",
            **write_rope(s, {"rotary_fraction": "partial_rotary_factor"}),
            "partial_rotary_factor": s.rotary_fraction}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 212
ENTRIES = (Architecture(
    model_type="stablelm", hf_class="StableLmForCausalLM", read=read, write=write,
    prefix="model.",
    tensors={**same("embed.weight", "model.embed_tokens.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
             **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
             **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj",
                                             f"{ATTN}.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
             **fused("blocks.{i}.mlp.fc_in", (f"{MLP}.gate_proj", f"{MLP}.up_proj"), "gate_up"),
             **linear("blocks.{i}.mlp.fc_out", f"{MLP}.down_proj"),
             **norm("final_norm", "model.norm"),
             **same("head.weight", "lm_head.weight")}),)
