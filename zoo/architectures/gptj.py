"""EleutherAI's GPT-J (gptj): a parallel block, interleaved partial rotary, a head bias."""

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
    read_rope,
    same,
    write_rope,
)
from zoo.spec import ModelSpec

LAYER = "transformer.h.{i}"


def read(c: Mapping[str, Any]) -> Config:
    d, heads = get(c, "n_embd"), get(c, "n_head")
    rotary_dim = get(c, "rotary_dim", default=d // heads)
    return dict(n_layer=get(c, "n_layer"), d_model=d, n_head=heads,
                d_ff=get(c, "n_inner", default=4 * d), vocab_size=get(c, "vocab_size"),
                context_length=get(c, "n_positions"), position="rotary",
                rotary_fraction=rotary_dim / (d // heads), rotary_style="interleaved",
                rope_theta=read_rope(c, scaling=False)["rope_theta"], block="parallel",
                activation=activation(c.get("activation_function", "gelu_new"),
                                      "activation_function"),
                norm_eps=get(c, "layer_norm_epsilon", default=1e-5), bias=False,
                mlp_bias=True, head_bias=True, tie_embeddings=c.get("tie_word_embeddings", False))


def write(s: ModelSpec) -> Config:
    return {"n_layer": s.n_layer, "n_embd": s.d_model, "n_head": s.n_head, "n_inner": s.d_ff,
            "n_positions": s.context_length, "rotary_dim": s.rotary_dim,
            "activation_function": activation_to_hf(s), "layer_norm_epsilon": s.norm_eps,
            **write_rope(s, {})}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 30
ENTRIES = (Architecture(
    model_type="gptj", hf_class="GPTJForCausalLM", read=read, write=write, prefix="transformer.",
    aliases=("gpt-j",),
    tensors={**same("embed.weight", "transformer.wte.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.ln_1"),
             **fused("blocks.{i}.attn.qkv", (f"{LAYER}.attn.q_proj", f"{LAYER}.attn.k_proj",
                                             f"{LAYER}.attn.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{LAYER}.attn.out_proj"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.fc_in"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.fc_out"),
             **norm("final_norm", "transformer.ln_f"),
             **linear("head", "lm_head")}),)
