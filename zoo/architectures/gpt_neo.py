"""EleutherAI's GPT-Neo (gpt_neo): GPT-2's layout with separate q, k, v and local layers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    activation,
    activation_to_hf,
    fused,
    get,
    linear,
    norm,
    same,
    shortest_period,
)
from zoo.spec import ModelSpec

LAYER = "transformer.h.{i}"
ATTN = f"{LAYER}.attn.attention"


def read(c: Mapping[str, Any]) -> Config:
    d = get(c, "hidden_size")
    kinds = [kind for pattern, repeat in get(c, "attention_types") for _ in range(repeat)
             for kind in pattern]
    pattern = shortest_period(kinds)
    out = dict(n_layer=get(c, "num_layers"), d_model=d, n_head=get(c, "num_heads"),
               d_ff=get(c, "intermediate_size", default=4 * d), vocab_size=get(c, "vocab_size"),
               context_length=get(c, "max_position_embeddings"),
               activation=activation(c.get("activation_function", "gelu_new"),
                                     "activation_function"),
               norm_eps=get(c, "layer_norm_epsilon", default=1e-5), qkv_bias=False,
               scale_attention=False, attention_pattern=pattern,
               tie_embeddings=c.get("tie_word_embeddings", True))
    if "local" in pattern:
        out["local_window"] = get(c, "window_size", default=256)
    return out


def write(s: ModelSpec) -> Config:
    pattern = list(s.attention_pattern)
    return {"num_layers": s.n_layer, "hidden_size": s.d_model, "num_heads": s.n_head,
            "intermediate_size": s.d_ff, "max_position_embeddings": s.context_length,
            "activation_function": activation_to_hf(s), "layer_norm_epsilon": s.norm_eps,
            "attention_types": [[pattern, s.n_layer // len(pattern)]]
            if s.n_layer % len(pattern) == 0 else [[[k], 1] for k in s.layer_kinds],
            "window_size": s.local_window or 256}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 20
ENTRIES = (Architecture(
    model_type="gpt_neo", hf_class="GPTNeoForCausalLM", read=read, write=write,
    prefix="transformer.",
    tensors={**same("embed.weight", "transformer.wte.weight"),
             **same("positions.weight", "transformer.wpe.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.ln_1"),
             **norm("blocks.{i}.norm2", f"{LAYER}.ln_2"),
             **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj",
                                             f"{ATTN}.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.out_proj"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.c_fc"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.c_proj"),
             **norm("final_norm", "transformer.ln_f"),
             **same("head.weight", "lm_head.weight")}),)
