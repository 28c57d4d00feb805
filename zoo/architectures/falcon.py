"""TII's Falcon (falcon, and the legacy RefinedWeb spellings): q, k, v fused per kv group.

Falcon's three layouts (per head for the original decoder, all q heads then k and v for
multi-query, per kv group for the new decoder) are one layout: q heads, then k, then v, for
each kv group; a spec's kv heads say how many groups there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    Tensors,
    activation,
    activation_to_hf,
    counted_only,
    get,
    linear,
    norm,
    read_rope,
    same,
    write_rope,
)
from zoo.spec import ModelSpec

LAYER = "transformer.h.{i}"


def read(c: Mapping[str, Any]) -> Config:
    """`bias` puts a bias on every projection (the norms always have one); ALiBi (Falcon-RW)
    has no parameters, so it is counted, but zoo's ALiBi is BLOOM's and Falcon's is not built.
    A missing key takes FalconConfig's default."""
    d = get(c, "hidden_size", "n_embed", default=4544)
    heads = get(c, "num_attention_heads", "n_head", default=71)
    new = c.get("new_decoder_architecture", c.get("model_type") == "RefinedWeb")
    if new:
        kv = get(c, "num_kv_heads", "n_head_kv", default=heads)
        block = "parallel_two_norms" if c.get("num_ln_in_parallel_attn") in (None, 2) \
            else "parallel"
    else:
        kv = 1 if c.get("multi_query", True) else heads
        block = "parallel" if c.get("parallel_attn", True) else "sequential"
    out = dict(n_layer=get(c, "num_hidden_layers", "n_layer", default=32), d_model=d, n_head=heads,
               n_kv_head=kv, d_ff=get(c, "ffn_hidden_size", default=4 * d),
               vocab_size=get(c, "vocab_size", default=65024),
               context_length=get(c, "max_position_embeddings", default=2048),
               position="rotary", rope_theta=read_rope(c, scaling=False)["rope_theta"],
               block=block,
               activation=activation(c.get("activation", "gelu"), "activation"),
               norm_eps=get(c, "layer_norm_epsilon", default=1e-5), bias=bool(c.get("bias")),
               tie_embeddings=c.get("tie_word_embeddings", True))
    if c.get("alibi"):
        counted_only(out, "Falcon's ALiBi is not built")
        out.update(position="alibi", rope_theta=10000.0)
    return out


def write(s: ModelSpec) -> Config:
    new = s.block == "parallel_two_norms" or s.kv_heads not in (1, s.n_head)
    out = {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
           "num_attention_heads": s.n_head, "ffn_hidden_size": s.d_ff,
           "max_position_embeddings": s.context_length, "activation": activation_to_hf(s),
           "layer_norm_epsilon": s.norm_eps, "bias": s.bias, "alibi": False,
           "new_decoder_architecture": new, **write_rope(s, {})}
    if new:
        out.update(num_kv_heads=s.kv_heads, parallel_attn=True,
                   num_ln_in_parallel_attn=2 if s.block == "parallel_two_norms" else 1)
    else:
        out.update(multi_query=s.kv_heads == 1, parallel_attn=s.block == "parallel",
                   num_kv_heads=s.kv_heads)
    return out


TENSORS = {
    **same("embed.weight", "transformer.word_embeddings.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
    **linear("blocks.{i}.attn.qkv", f"{LAYER}.self_attention.query_key_value", "qkv_grouped"),
    **linear("blocks.{i}.attn.out", f"{LAYER}.self_attention.dense"),
    **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.dense_h_to_4h"),
    **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.dense_4h_to_h"),
    **norm("final_norm", "transformer.ln_f"),
    **same("head.weight", "lm_head.weight"),
}
TWO_NORMS = {**TENSORS, **norm("blocks.{i}.norm1", f"{LAYER}.ln_attn"),
             **norm("blocks.{i}.norm2", f"{LAYER}.ln_mlp")}


def tensors(spec: ModelSpec) -> Tensors:
    """The new decoder's two parallel norms have their own names."""
    return TWO_NORMS if spec.block == "parallel_two_norms" else TENSORS


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 80
ENTRIES = (Architecture(
    model_type="falcon", hf_class="FalconForCausalLM", read=read, write=write,
    prefix="transformer.", aliases=("RefinedWebModel", "RefinedWeb"), tensors=tensors),)
