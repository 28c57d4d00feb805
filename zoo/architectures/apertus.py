"""Swiss AI's Apertus (apertus): LLaMA's layer with RMSNorm over each q and k head before the
rotary, its norms named attention_layernorm and feedforward_layernorm, and a two-matrix MLP
(up_proj, down_proj, no biases) whose xIELU activation learns two scalars per layer (another
hidden_act has none); attention_bias on q, k, v and the output; Llama 3.1's rope scaling
(theta 12,000,000) when the config gives none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    activation_to_hf,
    linear,
    norm,
    same,
    with_defaults,
)
from zoo.architectures.llama import (
    LAYER,
    MLP,
    QK_NORMS,
    TENSORS,
    read_llama_like,
    write_llama_like,
)
from zoo.spec import ModelSpec

# ApertusConfig's defaults for the keys read (num_key_value_heads: as many as the heads)
DEFAULTS = {
    "vocab_size": 131072, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": None,
    "hidden_act": "xielu", "max_position_embeddings": 65536, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False, "attention_bias": False,
    # ApertusConfig's rope when the config has none
    "rope_parameters": {"rope_type": "llama3", "rope_theta": 12000000.0, "factor": 8.0,
                        "original_max_position_embeddings": 8192, "low_freq_factor": 1.0,
                        "high_freq_factor": 4.0}}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    bias = bool(c["attention_bias"])
    # xIELU is Apertus's own (its scalars are this entry's tensors): read here, not as a
    # hidden_act every two-matrix reader knows
    xielu = c["hidden_act"] == "xielu"
    out = read_llama_like({**c, "hidden_act": "relu"} if xielu else c, gated=False,
                          qk_norm="head", qkv_bias=bias, attn_out_bias=bias, mlp_bias=False)
    return {**out, "activation": "xielu"} if xielu else out


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "hidden_act": "xielu" if s.activation == "xielu" else activation_to_hf(s)}


ACT = f"{LAYER}.mlp.act_fn"
TENSORS = {
    **{k: v for k, v in TENSORS.items() if not k.startswith(("blocks.{i}.mlp.fc_in",
                                                             "blocks.{i}.norm"))},
    **QK_NORMS,
    **norm("blocks.{i}.norm1", f"{LAYER}.attention_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.feedforward_layernorm"),
    **linear("blocks.{i}.mlp.fc_in", f"{MLP}.up_proj"),
    # xIELU's learned scalars and its stored beta and eps (used where hidden_act is xielu)
    **{k: v for name in ("alpha_p", "alpha_n", "beta", "eps")
       for k, v in same(f"blocks.{{i}}.mlp.act.{name}", f"{ACT}.{name}").items()},
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 272
ENTRIES = (Architecture(model_type="apertus", hf_class="ApertusForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)
