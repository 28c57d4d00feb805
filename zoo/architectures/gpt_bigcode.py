"""BigCode's SantaCoder and StarCoder (gpt_bigcode): GPT-2's block (LayerNorm, learned
positions, biases everywhere, a tied head) with nn.Linear instead of Conv1D, and multi-query
attention by default (`multi_query`: one key and one value head).

q, k and v are one fused `c_attn`. With multi-query attention it is laid out as zoo's own (all
q heads, then the k head, then the v head); without, transformers splits it per head
([q, k, v] of head 0, of head 1, ...), GPT-NeoX's layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    Tensors,
    UnsupportedConfigError,
    activation,
    activation_to_hf,
    get,
    linear,
    norm,
    same,
)
from zoo.spec import ModelSpec

LAYER = "transformer.h.{i}"
# transformers' GPTBigCodeConfig defaults (n_inner None: 4 x n_embd)
DEFAULTS = {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12,
            "n_head": 12, "activation_function": "gelu_pytorch_tanh",
            "layer_norm_epsilon": 1e-5, "scale_attn_weights": True, "multi_query": True,
            "tie_word_embeddings": True, "add_cross_attention": False}
# transformers' attribute_map: the names a config may use instead
ALIASES = {"hidden_size": "n_embd", "max_position_embeddings": "n_positions",
           "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}


def read(c: Mapping[str, Any]) -> Config:
    given = {ALIASES.get(k, k): v for k, v in c.items() if v is not None}
    c = {**DEFAULTS, **given}
    if c["add_cross_attention"]:
        raise UnsupportedConfigError("add_cross_attention: zoo builds decoder-only models")
    d, heads = get(c, "n_embd"), get(c, "n_head")
    return dict(n_layer=get(c, "n_layer"), d_model=d, n_head=heads,
                n_kv_head=1 if c["multi_query"] else heads,
                d_ff=get(c, "n_inner", default=4 * d), vocab_size=get(c, "vocab_size"),
                context_length=get(c, "n_positions"), position="learned",
                activation=activation(c["activation_function"], "activation_function"),
                norm="layernorm", norm_eps=get(c, "layer_norm_epsilon"),
                scale_attention=bool(c["scale_attn_weights"]), bias=True,
                tie_embeddings=c["tie_word_embeddings"])


def write(s: ModelSpec) -> Config:
    if s.kv_heads not in (1, s.n_head):
        raise UnsupportedConfigError("GPT-BigCode has one kv head (multi_query) or one per head")
    return {"n_layer": s.n_layer, "n_embd": s.d_model, "n_head": s.n_head, "n_inner": s.d_ff,
            "n_positions": s.context_length, "activation_function": activation_to_hf(s),
            "layer_norm_epsilon": s.norm_eps, "scale_attn_weights": s.scale_attention,
            "multi_query": s.kv_heads == 1}


def tensors(spec: ModelSpec) -> Tensors:
    qkv = "same" if spec.kv_heads == 1 else "qkv_grouped"
    return {**same("embed.weight", "transformer.wte.weight"),
            **same("positions.weight", "transformer.wpe.weight"),
            **norm("blocks.{i}.norm1", f"{LAYER}.ln_1"),
            **norm("blocks.{i}.norm2", f"{LAYER}.ln_2"),
            **linear("blocks.{i}.attn.qkv", f"{LAYER}.attn.c_attn", qkv),
            **linear("blocks.{i}.attn.out", f"{LAYER}.attn.c_proj"),
            **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.c_fc"),
            **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.c_proj"),
            **norm("final_norm", "transformer.ln_f"),
            **same("head.weight", "lm_head.weight")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 215
ENTRIES = (Architecture(
    model_type="gpt_bigcode", hf_class="GPTBigCodeForCausalLM", read=read, write=write,
    prefix="transformer.", tensors=tensors),)
