"""SK Telecom's A.X K1 (axk1) and A.X K2 (axk2), counted exactly, not built.

A.X K1 is DeepSeek-V3 (multi-head latent attention with queries always through a latent, dense
first layers then routed and shared experts, sigmoid scores with a selection-only bias, expert
groups) with one addition: an RMSNorm over each MoE layer's output, routed and shared experts
summed, before the residual sum (post_mlp_layernorm; the checkpoints store one on the dense
layers too, which transformers does not build: not counted).

A.X K2 is DeepSeek-V3.2's latent attention with its indexer in every layer, but without
q_b_proj: one projection (q_gate_proj) of the query latent before and after its norm,
concatenated, gives the queries and a sigmoid gate per value dim on the attention's output.
Each layer's input norm, and the MLP's norm on MoE layers, is multiplied by a sigmoid gate of
its own output through d_model -> gated_norm_rank -> d_model (AXK2GatedRMSNorm). Its experts
are DeepSeek-V3's, routed in groups only where n_group is set (A.X K2 Light routes over all).

Both classes take the MLP of each layer from mlp_layer_types, else from the legacy
first_k_dense_replace and moe_layer_freq (a layer is sparse from the first on, every freq-th),
as their configs' __post_init__ does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures import deepseek
from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    counted_only,
    get,
    with_defaults,
)
from zoo.architectures.counted import Reader, counted_entries

# transformers' AXK1Config class defaults (5.25; DeepseekV3Config's where it does not override
# them), for every key read below
AXK1_DEFAULTS: Config = {
    "vocab_size": 163840, "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 64,
    "num_key_value_heads": 64, "n_shared_experts": 1, "n_routed_experts": 192,
    "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 1536,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128, "n_group": 8,
    "topk_group": 4, "num_experts_per_tok": 8, "norm_topk_prob": True, "hidden_act": "silu",
    "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "rope_interleave": True, "attention_bias": False, "mlp_layer_types": None,
}
# transformers' AXK2Config class defaults (5.25), for every key read below
AXK2_DEFAULTS: Config = {
    "vocab_size": 163840, "hidden_size": 2048, "intermediate_size": 5120,
    "moe_intermediate_size": 512, "num_hidden_layers": 48, "num_attention_heads": 32,
    "num_key_value_heads": 32, "n_shared_experts": 1, "n_routed_experts": 128,
    "routed_scaling_factor": 2.5, "kv_lora_rank": 128, "q_lora_rank": 384,
    "qk_rope_head_dim": 32, "v_head_dim": 64, "qk_nope_head_dim": 64, "n_group": None,
    "topk_group": None, "num_experts_per_tok": 8, "norm_topk_prob": True, "hidden_act": "silu",
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "attention_bias": False, "mlp_layer_types": None, "index_topk": 2048,
    "index_head_dim": 128, "index_n_heads": 16, "gated_norm_rank": 16,
}


def mlp_kinds(c: Mapping[str, Any], model_type: str) -> tuple[int, list[str]]:
    """The layers before the first MoE one, and the MLP pattern after them in zoo's words
    (`dense` / `moe`, cycled by the layer's own index): from mlp_layer_types, else from the
    legacy first_k_dense_replace (1) and moe_layer_freq (1) as the class derives it."""
    layers = get(c, "num_hidden_layers")
    types = c.get("mlp_layer_types")
    if types is None:
        first = get(c, "first_k_dense_replace", default=1)
        freq = get(c, "moe_layer_freq", default=1)
        if not isinstance(freq, int) or freq < 1:
            raise UnsupportedConfigError(f"{model_type} moe_layer_freq {freq!r}: expected a "
                                         f"positive integer")
        types = ["sparse" if i >= first and i % freq == 0 else "dense" for i in range(layers)]
    if len(types) != layers or not set(types) <= {"dense", "sparse"}:
        raise UnsupportedConfigError(f"{model_type} mlp_layer_types must give dense or sparse "
                                     f"for each of num_hidden_layers {layers} layers")
    kinds = ["moe" if kind == "sparse" else "dense" for kind in types]
    first = next((i for i, kind in enumerate(kinds) if kind == "moe"), layers)
    for period in range(1, layers + 1):  # the shortest pattern that, indexed by the layer's
        # own index, gives every layer from the first MoE one on
        pattern: dict[int, str] = {}
        if all(pattern.setdefault(i % period, kind) == kind
               for i, kind in enumerate(kinds) if i >= first):
            return first, [pattern.get(i, "moe") for i in range(period)]
    raise AssertionError("unreachable: the whole list is a pattern")


def _latent_moe(c: Config, model_type: str) -> Config:
    """DeepSeek-V3's latent attention and routing over `c` (the class's defaults under the
    config), the MLP of each layer as mlp_kinds says; a config with no sparse layer is a dense
    model. A null q_lora_rank is refused by name: these classes always build the query
    latent (transformers fails to build without it)."""
    if c["q_lora_rank"] is None:
        raise UnsupportedConfigError(f"{model_type} q_lora_rank null: its attention always "
                                     f"projects the queries through a latent")
    first, pattern = mlp_kinds(c, model_type)
    out = deepseek.read_latent({**c, "first_k_dense_replace": first})
    if first == get(c, "num_hidden_layers"):  # no sparse layer: no router, no experts
        for key in ("n_experts", "experts_per_token", "d_ff_expert", "n_shared_experts",
                    "first_dense_layers", "routed_scaling"):
            out.pop(key)
        return out
    groups = c["n_group"]
    out.update(router_scoring="sigmoid", routing_bias=True,
               router_normalize=bool(c["norm_topk_prob"]),
               **({} if groups is None else {"expert_groups": groups,
                                             "expert_groups_per_token": get(c, "topk_group")}))
    if pattern != ["moe"]:
        out["mlp_pattern"] = pattern
    return out


def read_axk1(c: Mapping[str, Any]) -> Config:
    """A.X K1: DeepSeek-V3 (rope_interleave pairs adjacent dims) with an RMSNorm over each MoE
    layer's output."""
    c = with_defaults(c, AXK1_DEFAULTS)
    out = _latent_moe(c, "axk1")
    out["rotary_style"] = "interleaved" if c["rope_interleave"] else "half"
    if "n_experts" in out:
        out["moe_output_norm"] = True
    return counted_only(out, "A.X K1's norm over each MoE layer's output is counted, not built")


def read_axk2(c: Mapping[str, Any]) -> Config:
    """A.X K2: DeepSeek-V3.2's latent attention and indexer (rotated in adjacent pairs, the
    indexer's keys cached beside the latent), the queries and an output gate per value dim
    from the query latent before and after its norm, gated norms of gated_norm_rank."""
    c = with_defaults(c, AXK2_DEFAULTS)
    if (c["n_group"] is None) != (c["topk_group"] is None):
        raise UnsupportedConfigError("axk2 n_group and topk_group must be set together (both "
                                     "null: routing over all experts)")
    out = _latent_moe(c, "axk2")
    out.update(rotary_style="interleaved", attention_output_gate=True, q_up_raw_latent=True,
               gated_norm_rank=get(c, "gated_norm_rank"),
               indexer_heads=get(c, "index_n_heads"), indexer_head_dim=get(c, "index_head_dim"),
               indexer_topk=get(c, "index_topk"))
    return counted_only(out, "A.X K2's gated query projection and gated norms are counted, "
                             "not built")


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "axk1": ("AXK1ForCausalLM", "deepseek_v3", read_axk1),
    "axk2": ("AXK2ForCausalLM", "deepseek_v32", read_axk2),
}

# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 930
ENTRIES = counted_entries(COUNTED)
