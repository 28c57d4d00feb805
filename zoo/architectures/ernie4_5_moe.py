"""Baidu's ERNIE 4.5 MoE (ernie4_5_moe): grouped-query attention with interleaved-pair rotary
(GPT-J's), mixtures of softmax-routed experts from moe_layer_start_index to
moe_layer_end_index every moe_layer_interval-th layer (dense MLPs of intermediate_size on the
others), chosen with a per-expert selection bias that is a parameter (moe_statics), weights
renormalised over the chosen, and moe_num_shared_experts shared experts as one MLP beside
them. The multi-token-prediction layer its checkpoints publish is not built by transformers,
nor here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    Source,
    UnsupportedConfigError,
    defaults_under,
    fused,
    get,
    linear,
    shortest_period,
)
from zoo.architectures.llama import read_llama_like, write_llama_like
from zoo.architectures.moe import ATTENTION, DENSE_MLP, LAYER, OUTER, experts
from zoo.spec import ModelSpec

# Ernie4_5_MoeConfig's defaults for what read_ernie reads (its class has no head_dim: the
# attention takes the config's when it has one, else hidden_size / num_attention_heads)
DEFAULTS = {"vocab_size": 103424, "hidden_size": 2560, "intermediate_size": 12288,
            "num_hidden_layers": 28, "num_attention_heads": 20, "num_key_value_heads": 4,
            "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
            "tie_word_embeddings": True, "use_bias": False, "moe_intermediate_size": 1536,
            "moe_k": 6, "moe_num_experts": 64, "moe_num_shared_experts": 2,
            "moe_layer_start_index": 1, "moe_layer_end_index": -1, "moe_layer_interval": 1,
            "rope_theta": 500000.0}


def read_ernie(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, DEFAULTS)
    # the in-memory spellings transformers maps to moe_*
    for theirs, ours in (("num_experts", "moe_num_experts"), ("num_experts_per_tok", "moe_k")):
        if theirs in c:
            c[ours] = c[theirs]
    if c["use_bias"]:
        raise UnsupportedConfigError("use_bias (biases on every projection and the head) is "
                                     "not supported")
    n_layer, interval = get(c, "num_hidden_layers"), get(c, "moe_layer_interval")
    start, end = get(c, "moe_layer_start_index"), get(c, "moe_layer_end_index")
    end = n_layer - 1 if end == -1 else end
    if not isinstance(interval, int) or interval < 1:
        raise UnsupportedConfigError(f"moe_layer_interval {interval!r}: expected an integer "
                                     f">= 1")
    kinds = ["moe" if (i + 1) % interval == 0 and start <= i <= end else "dense"
             for i in range(n_layer)]
    if "moe" not in kinds:
        raise UnsupportedConfigError("no layer is a mixture of experts (moe_layer_start_index, "
                                     "moe_layer_end_index, moe_layer_interval)")
    shared = get(c, "moe_num_shared_experts")
    out = read_llama_like(c, mlp_bias=False, norm_eps=c["rms_norm_eps"],
                          tie_embeddings=bool(c["tie_word_embeddings"]),
                          rotary_style="interleaved", n_experts=get(c, "moe_num_experts"),
                          experts_per_token=get(c, "moe_k"),
                          d_ff_expert=get(c, "moe_intermediate_size"),
                          n_shared_experts=shared, routing_bias=True,
                          routing_bias_parameter=True, router_normalize=True)
    if "dense" in kinds:
        out["mlp_pattern"] = shortest_period(kinds)
    return out


def write_ernie(s: ModelSpec) -> Config:
    if not s.moe or s.shared_width not in (None, s.n_shared_experts * s.expert_width):
        raise UnsupportedConfigError("ERNIE 4.5's shared experts are n x the expert width")
    moe = [i for i, layer in enumerate(s.layer_moe) if layer]
    if moe != list(range(moe[0], moe[-1] + 1)):
        raise UnsupportedConfigError("ERNIE 4.5 writes its mixtures as one run of layers "
                                     "(interval 1)")
    return {**write_llama_like(s), "use_bias": False, "moe_num_experts": s.n_experts,
            "moe_k": s.experts_per_token, "moe_intermediate_size": s.expert_width,
            "moe_num_shared_experts": s.n_shared_experts, "moe_layer_start_index": moe[0],
            "moe_layer_end_index": moe[-1], "moe_layer_interval": 1}


MOE = f"{LAYER}.mlp"
TENSORS = {
    **OUTER, **ATTENTION, **DENSE_MLP,
    **experts(MOE, "gate_proj", "up_proj", "down_proj"),
    "blocks.{i}.mlp.routing_bias": Source((f"{MOE}.moe_statics.e_score_correction_bias",),
                                          "row"),
    **fused("blocks.{i}.mlp.shared.fc_in", (f"{MOE}.shared_experts.gate_proj",
                                            f"{MOE}.shared_experts.up_proj"), "gate_up"),
    **linear("blocks.{i}.mlp.shared.fc_out", f"{MOE}.shared_experts.down_proj"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 148
ENTRIES = (
    Architecture(model_type="ernie4_5_moe", hf_class="Ernie4_5_MoeForCausalLM",
                 read=read_ernie, write=write_ernie, prefix="model.", tensors=TENSORS,
                 ignore=("model.mtp",)),
)
