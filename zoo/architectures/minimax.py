"""MiniMax's MiniMax-M2 (minimax_m2): grouped-query attention with RMSNorm over the whole q and
k projections and rotary on part of each head (rotary_dim), and every MLP a mixture of
experts chosen by sigmoid scores plus a selection bias (e_score_correction_bias, a buffer),
their weights renormalised over the chosen. The multi-token-prediction modules its checkpoints
publish are not built by transformers, nor here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    defaults_under,
    get,
    read_rope,
    same,
)
from zoo.architectures.llama import QK_NORMS, read_llama_like, write_llama_like
from zoo.architectures.moe import ATTENTION, LAYER, OUTER, experts
from zoo.spec import ModelSpec

# MiniMaxM2Config's defaults for what read_minimax_m2 reads
DEFAULTS = {"vocab_size": 200064, "hidden_size": 3072, "intermediate_size": 1536,
            "num_hidden_layers": 62, "num_attention_heads": 48, "num_key_value_heads": 8,
            "head_dim": 128, "max_position_embeddings": 196608, "rms_norm_eps": 1e-6,
            "num_experts_per_tok": 8, "num_local_experts": 256, "rope_theta": 5e6}


def read_minimax_m2(c: Mapping[str, Any]) -> Config:
    """transformers' class builds QK-norm over each projection and no shared expert, whatever
    the published keys say: configs that mean otherwise are refused by name."""
    c = defaults_under(c, DEFAULTS)
    if not c.get("use_qk_norm", True) or c.get("qk_norm_type", "per_layer") != "per_layer":
        raise UnsupportedConfigError("MiniMax-M2 without QK-norm over each projection "
                                     "(use_qk_norm, qk_norm_type per_layer) is not supported")
    if c.get("shared_intermediate_size", 0):
        raise UnsupportedConfigError("shared_intermediate_size: MiniMax-M2's class builds no "
                                     "shared expert")
    if c.get("scoring_func", "sigmoid") != "sigmoid":
        raise UnsupportedConfigError("MiniMax-M2's router scores are sigmoid (scoring_func)")
    rotary = get(c, "rotary_dim", default=None)
    fraction = read_rope(c, rotary / c["head_dim"] if rotary is not None else 1.0)[
        "rotary_fraction"]
    # read_llama_like reads the rest of the rotary settings, the fraction taken out
    c.pop("partial_rotary_factor", None)
    if isinstance(c.get("rope_parameters"), Mapping):
        c["rope_parameters"] = {k: v for k, v in c["rope_parameters"].items()
                                if k != "partial_rotary_factor"}
    out = read_llama_like(c, qk_norm="projection",
                          mlp_bias=False, norm_eps=c["rms_norm_eps"],
                          n_experts=get(c, "num_local_experts"),
                          experts_per_token=get(c, "num_experts_per_tok"),
                          router_scoring="sigmoid", routing_bias=True, router_normalize=True)
    return {**out, "rotary_fraction": fraction}


def write_minimax_m2(s: ModelSpec) -> Config:
    if not s.moe:
        raise UnsupportedConfigError("MiniMax-M2 is a mixture of experts")
    return {**write_llama_like(s), "num_local_experts": s.n_experts,
            "num_experts_per_tok": s.experts_per_token, "intermediate_size": s.expert_width,
            "rotary_dim": s.rotary_dim, "use_qk_norm": True, "qk_norm_type": "per_layer",
            "scoring_func": "sigmoid", "use_routing_bias": True}


MOE = f"{LAYER}.block_sparse_moe"
# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 149
ENTRIES = (
    Architecture(model_type="minimax_m2", hf_class="MiniMaxM2ForCausalLM",
                 read=read_minimax_m2, write=write_minimax_m2, prefix="model.",
                 tensors={**OUTER, **ATTENTION, **QK_NORMS, **experts(MOE, "w1", "w3", "w2"),
                          **same("blocks.{i}.mlp.routing_bias",
                                 f"{MOE}.e_score_correction_bias")},
                 ignore=("model.mtp",)),
)
