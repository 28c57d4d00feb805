"""IBM's Granite 3.x MoE (granitemoe): Mixtral's block with Granite's scalars (embeddings,
each sublayer's output and the attention scores multiplied by embedding_multiplier,
residual_multiplier and attention_multiplier, the logits divided by logits_scaling), every MLP
a mixture whose experts are stored fused (input_linear: [gate; up] of every expert), weighted
by a softmax over the chosen experts' logits. granitemoeshared adds one shared expert
(shared_mlp, of shared_intermediate_size, none when 0) beside the mixture; granitemoe_swa adds
to it Granite SWA's sinks, sliding layers and per-layer rotary bases (zoo.architectures.granite).
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
    linear,
    same,
)
from zoo.architectures.granite import read_swa_layers, write_swa_layers
from zoo.architectures.llama import read_llama_like, write_llama_like
from zoo.architectures.moe import ATTENTION, LAYER, OUTER
from zoo.spec import ModelSpec

# GraniteMoeConfig's defaults for what read_granitemoe reads (key/value heads: the query
# heads; its class has no head_dim: hidden_size / num_attention_heads unless the config says)
DEFAULTS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
            "num_hidden_layers": 32, "num_attention_heads": 32,
            "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "attention_bias": False,
            "embedding_multiplier": 1.0, "logits_scaling": 1.0, "residual_multiplier": 1.0,
            "attention_multiplier": 1.0, "num_local_experts": 8, "num_experts_per_tok": 2}


def read_granitemoe(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, DEFAULTS)
    bias = bool(c["attention_bias"])
    return read_llama_like(c, qkv_bias=bias, attn_out_bias=bias, mlp_bias=False,
                           norm_eps=c["rms_norm_eps"], n_experts=get(c, "num_local_experts"),
                           experts_per_token=get(c, "num_experts_per_tok"),
                           router_normalize=True,
                           embedding_multiplier=float(c["embedding_multiplier"]),
                           residual_multiplier=float(c["residual_multiplier"]),
                           attention_multiplier=float(c["attention_multiplier"]),
                           logit_scale=1.0 / float(c["logits_scaling"]))


def read_granitemoeshared(c: Mapping[str, Any]) -> Config:
    shared = get(c, "shared_intermediate_size", default=0)
    out = read_granitemoe(c)
    return {**out, "n_shared_experts": 1, "d_ff_shared": shared} if shared else out


def write_granitemoeshared(s: ModelSpec) -> Config:
    if s.n_shared_experts != 1 or s.shared_expert_gate:
        raise UnsupportedConfigError("Granite MoE Shared has one ungated shared expert")
    return {**write_granitemoe(s), "shared_intermediate_size": s.shared_width}


def write_granitemoe(s: ModelSpec) -> Config:
    if not s.moe:
        raise UnsupportedConfigError("Granite MoE is a mixture of experts")
    if s.attention_multiplier is None or s.has_bias("qkv") != s.has_bias("attn_out"):
        raise UnsupportedConfigError("Granite MoE states its score scale (attention_multiplier) "
                                     "and biases all four projections or none")
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "num_local_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "intermediate_size": s.expert_width,
            "embedding_multiplier": s.embedding_multiplier,
            "residual_multiplier": s.residual_multiplier,
            "attention_multiplier": s.attention_multiplier,
            "logits_scaling": 1.0 / s.logit_scale}


def read_granitemoe_swa(config: Mapping[str, Any]) -> Config:
    """GraniteMoeSWAConfig: GraniteMoeSharedConfig's defaults (no shared expert unless
    shared_intermediate_size) and a 128-token window."""
    c = {"sliding_window": 128, **config}
    return read_swa_layers(c, {**read_granitemoeshared(c), "attention_sinks": True})


def write_granitemoe_swa(s: ModelSpec) -> Config:
    base = write_granitemoeshared(s) if s.n_shared_experts else \
        {**write_granitemoe(s), "shared_intermediate_size": 0}
    return {**base, **write_swa_layers(s)}


MOE = f"{LAYER}.block_sparse_moe"
TENSORS = {
    **OUTER, **ATTENTION,
    **same("blocks.{i}.mlp.router.weight", f"{MOE}.router.layer.weight"),
    **same("blocks.{i}.mlp.experts.fc_in", f"{MOE}.input_linear.weight"),
    **same("blocks.{i}.mlp.experts.fc_out", f"{MOE}.output_linear.weight"),
}

SHARED = {**TENSORS,
          **same("blocks.{i}.mlp.shared.fc_in.weight", f"{LAYER}.shared_mlp.input_linear.weight"),
          **linear("blocks.{i}.mlp.shared.fc_out", f"{LAYER}.shared_mlp.output_linear")}

# Granite MoE SWA's checkpoints keep transformers 5's names for the same tensors (no
# conversion back to input_linear / output_linear / router.layer on save)
SWA = {**SHARED,
       **same("blocks.{i}.mlp.router.weight", f"{MOE}.router.weight"),
       **same("blocks.{i}.mlp.experts.fc_in", f"{MOE}.experts.gate_up_proj"),
       **same("blocks.{i}.mlp.experts.fc_out", f"{MOE}.experts.down_proj"),
       **same("blocks.{i}.attn.sinks", f"{LAYER}.self_attn.sinks")}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 151
ENTRIES = (
    Architecture(model_type="granitemoe", hf_class="GraniteMoeForCausalLM",
                 read=read_granitemoe, write=write_granitemoe, prefix="model.",
                 tensors=TENSORS),
    Architecture(model_type="granitemoeshared", hf_class="GraniteMoeSharedForCausalLM",
                 read=read_granitemoeshared, write=write_granitemoeshared, prefix="model.",
                 tensors=SHARED),
    Architecture(model_type="granitemoe_swa", hf_class="GraniteMoeSWAForCausalLM",
                 read=read_granitemoe_swa, write=write_granitemoe_swa, prefix="model.",
                 tensors=SWA),
)
