"""Adept's Persimmon (persimmon): pre-LayerNorm blocks with biases everywhere, q, k and v fused
per head (GPT-NeoX's layout), a LayerNorm with bias over each q and k head (qk_layernorm,
shared by the heads), half of each head rotated unless partial_rotary_factor says otherwise
(in halves, NeoX-style), and a two-matrix MLP (squared ReLU by default). Heads are
hidden_size / num_attention_heads wide (a head_dim key is not read), every head its own keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    activation,
    activation_to_hf,
    counted_only,
    get,
    linear,
    norm,
    read_rope,
    same,
    with_defaults,
    write_rope,
)
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
# PersimmonConfig's defaults for the keys read (its partial_rotary_factor: 0.5)
DEFAULTS = {"vocab_size": 262144, "hidden_size": 4096, "intermediate_size": 16384,
            "num_hidden_layers": 36, "num_attention_heads": 64, "hidden_act": "relu2",
            "max_position_embeddings": 16384, "layer_norm_eps": 1e-5,
            "tie_word_embeddings": False, "qk_layernorm": True}


def read_persimmon(c: Mapping[str, Any]) -> Config:
    """PersimmonConfig's fields (Fuyu's text decoder too)."""
    c = with_defaults(c, DEFAULTS)
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    out = dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
               d_head=d // heads, d_ff=get(c, "intermediate_size"),
               vocab_size=get(c, "vocab_size"), context_length=get(c, "max_position_embeddings"),
               position="rotary", **read_rope(c, 0.5), norm="layernorm",
               norm_eps=get(c, "layer_norm_eps"),
               activation=activation(c["hidden_act"], "hidden_act"), bias=True,
               qk_norm="head_layernorm" if c["qk_layernorm"] else "none",
               tie_embeddings=bool(c["tie_word_embeddings"]))
    rotated = int(out["d_head"] * out["rotary_fraction"])
    if rotated % 2:  # transformers rotates one dim more (its frequencies pair dims)
        counted_only(out, f"partial_rotary_factor {out['rotary_fraction']} of head_dim "
                          f"{out['d_head']} gives {rotated} rotated dims, an odd number")
    return out


def write(s: ModelSpec) -> Config:
    rope = write_rope(s, {})
    # stated always: PersimmonConfig reads a missing factor as 0.5
    rope["rope_parameters"]["partial_rotary_factor"] = s.rotary_fraction
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": activation_to_hf(s),
            "layer_norm_eps": s.norm_eps, "qk_layernorm": s.qk_norm == "head_layernorm",
            **rope, "partial_rotary_factor": s.rotary_fraction}


TENSORS = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
    **linear("blocks.{i}.attn.qkv", f"{ATTN}.query_key_value", "qkv_grouped"),
    **norm("blocks.{i}.attn.q_norm", f"{ATTN}.q_layernorm"),
    **norm("blocks.{i}.attn.k_norm", f"{ATTN}.k_layernorm"),
    **linear("blocks.{i}.attn.out", f"{ATTN}.dense"),
    **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.dense_h_to_4h"),
    **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.dense_4h_to_h"),
    **norm("final_norm", "model.final_layernorm"),
    **same("head.weight", "lm_head.weight"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 256
ENTRIES = (Architecture(model_type="persimmon", hf_class="PersimmonForCausalLM",
                        read=read_persimmon, write=write, tensors=TENSORS, prefix="model."),)
