"""Arcee's AFM (arcee): LLaMA's layer with a two-matrix MLP, up_proj -> hidden_act -> down_proj
(squared ReLU by default; Nemotron's MLP), attention_bias on q, k, v and the output, mlp_bias on
both MLP matrices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    activation_to_hf,
    linear,
    with_defaults,
)
from zoo.architectures.llama import (
    LLAMA_DEFAULTS,
    MLP,
    TENSORS,
    read_llama_like,
    write_llama_like,
)
from zoo.spec import ModelSpec

# ArceeConfig's defaults for the keys read (num_key_value_heads and head_dim: derived)
DEFAULTS = {**LLAMA_DEFAULTS, "hidden_size": 2560, "intermediate_size": 18432,
            "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "hidden_act": "relu2"}
# LLaMA's tensors with the MLP's input its up projection alone
UNGATED = {**{k: v for k, v in TENSORS.items() if not k.startswith("blocks.{i}.mlp.fc_in")},
           **linear("blocks.{i}.mlp.fc_in", f"{MLP}.up_proj")}


def read(config: Mapping[str, Any]) -> Config:
    return read_llama_like(with_defaults(config, DEFAULTS), DEFAULTS, gated=False)


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "hidden_act": activation_to_hf(s),
            "attention_bias": s.has_bias("qkv"), "mlp_bias": s.has_bias("mlp")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 254
ENTRIES = (Architecture(model_type="arcee", hf_class="ArceeForCausalLM", read=read, write=write,
                        tensors=UNGATED, prefix="model."),)
