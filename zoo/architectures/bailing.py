"""inclusionAI's Ling 3 hybrids (bailing_hybrid: Ling-3.0-Flash), counted exactly, not built.

BailingHybridForCausalLM groups its layers by layer_group_size (6): the last layer of each
group is DeepSeek's multi-head latent attention (queries through q_lora_rank, or one projection
where it is null; keys rotated in adjacent pairs) with a sigmoid output gate per head (g_proj:
d_model -> heads); the others are Kimi Delta Attention (`kda`, Gated DeltaNet with a decay per
channel) of num_attention_heads heads of head_dim, whose forget and output gates are each one
full-rank projection d_model -> heads x head_dim (forget_gate.f_proj, g_proj), not Kimi Linear's
low-rank pairs. DeepSeek-V3's experts follow the dense layers (first_k_dense_replace, 2, or
mlp_layer_types): sigmoid scores with a selection-only bias, routed in groups, beside a shared
MLP of n_shared_experts x moe_intermediate_size. The head is never tied (the class ties no
weights). The num_mtp_layers MTP layers stored after the decoder are not built, nor counted.

The class's __post_init__ takes the kda geometry from num_attention_heads, head_dim and
short_conv_kernel_size, then writes head_dim back as qk_rope_head_dim; keys it does not declare
(linear_num_heads, linear_head_dim, linear_conv_kernel_dim, which its to_dict writes) are set
after that and win. This reader reads them so. Its attribute_map spellings (num_experts,
moe_renormalize ...) are read as Kimi Linear's are, the checkpoint's winning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures import deepseek
from zoo.architectures.ax import mlp_kinds
from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    counted_only,
    get,
    shortest_period,
    with_defaults,
)
from zoo.architectures.counted import counted_entries
from zoo.architectures.kimi_linear import SPELLINGS

# transformers' BailingHybridConfig class defaults (5.25), for every key read below
DEFAULTS: Config = {
    "vocab_size": 157184, "hidden_size": 2560, "intermediate_size": 6144,
    "moe_intermediate_size": 768, "num_hidden_layers": 42, "num_attention_heads": 32,
    "num_key_value_heads": 32, "n_shared_experts": 1, "routed_scaling_factor": 2.5,
    "kv_lora_rank": 512, "q_lora_rank": None, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "qk_nope_head_dim": 128, "n_group": 8, "topk_group": 4, "num_experts_per_tok": 8,
    "first_k_dense_replace": 2, "norm_topk_prob": True, "hidden_act": "silu",
    "max_position_embeddings": 262144, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "rope_parameters": None, "attention_bias": False, "num_local_experts": 512,
    "rope_theta": 6_000_000.0, "head_dim": 128, "short_conv_kernel_size": 4,
    "layer_group_size": 6, "layer_types": None, "mlp_layer_types": None,
}
LAYERS = {"linear_attention": "kda", "full_attention": "global"}
# keys of the remote code that transformers' class does not read: the value it builds as, and
# what it builds whatever they say
NOT_BUILT = {
    "no_kda_lora": (True, "full-rank kda gates"),
    "gated_attention_proj_granularity_type": ("head_wise", "one output gate per head"),
    "use_qk_norm": (False, "no QK-norm"),
    "use_qkv_bias": (False, "no q, k or v biases"),
}
# the kda geometry the class sets (key it stores -> key it takes it from), a stored key winning
KDA_FROM = {"linear_num_heads": "num_attention_heads", "linear_head_dim": "head_dim",
            "linear_conv_kernel_dim": "short_conv_kernel_size"}


def _layer_types(c: Config, layers: int) -> list[str]:
    """layer_types, else full attention on the last layer of every layer_group_size."""
    types = c["layer_types"]
    if types is None:
        group = get(c, "layer_group_size")
        if not isinstance(group, int) or group < 1:
            raise UnsupportedConfigError(f"bailing_hybrid layer_group_size {group!r}: expected "
                                         f"a positive integer")
        types = ["full_attention" if (i + 1) % group == 0 else "linear_attention"
                 for i in range(layers)]
    unknown = sorted({str(t) for t in types} - set(LAYERS))
    if unknown:
        raise UnsupportedConfigError(f"bailing_hybrid layer_types has {', '.join(unknown)}; "
                                     f"zoo reads {', '.join(LAYERS)}")
    if len(types) != layers:
        raise UnsupportedConfigError(f"bailing_hybrid layer_types gives {len(types)} layers "
                                     f"for num_hidden_layers {layers}")
    return shortest_period([LAYERS[t] for t in types])


def read_bailing_hybrid(config: Mapping[str, Any]) -> Config:
    """BailingHybridConfig: kda layers with full-rank gates beside gated latent attention,
    DeepSeek-V3's experts after the dense layers."""
    c = dict(config)
    for ours, theirs in SPELLINGS.items():
        if theirs in c:
            c[ours] = c[theirs]
    for key, (built, builds) in NOT_BUILT.items():
        if c.get(key, built) != built:
            raise UnsupportedConfigError(f"bailing_hybrid {key} {c[key]!r} is not supported: "
                                         f"transformers' class builds {builds} (as {key} "
                                         f"{built!r})")
    c = with_defaults(c, DEFAULTS)
    shared = c.get("moe_shared_expert_intermediate_size")
    width = get(c, "moe_intermediate_size") * get(c, "n_shared_experts")
    if shared is not None and shared != width:
        raise UnsupportedConfigError(f"bailing_hybrid moe_shared_expert_intermediate_size "
                                     f"{shared} is not supported: transformers' class builds "
                                     f"the shared MLP n_shared_experts x moe_intermediate_size "
                                     f"= {width} wide")
    if c["rope_parameters"] is None:  # the class's own: rope_theta, unscaled
        c["rope_parameters"] = {"rope_type": "default", "rope_theta": c["rope_theta"]}
    layers = get(c, "num_hidden_layers")
    # the class takes no moe_layer_freq: mlp_layer_types, else the first dense layers
    first, pattern = mlp_kinds({k: v for k, v in c.items() if k != "moe_layer_freq"},
                               "bailing_hybrid")
    out = deepseek.read_latent({**c, "n_routed_experts": get(c, "num_local_experts"),
                                "first_k_dense_replace": first})
    if first == layers:  # no sparse layer: no router, no experts
        for key in ("n_experts", "experts_per_token", "d_ff_expert", "n_shared_experts",
                    "first_dense_layers", "routed_scaling"):
            out.pop(key)
    else:
        out.update(router_scoring="sigmoid", routing_bias=True,
                   router_normalize=bool(c["norm_topk_prob"]),
                   expert_groups=get(c, "n_group"), expert_groups_per_token=get(c, "topk_group"))
        if pattern != ["moe"]:
            out["mlp_pattern"] = pattern
    kinds = _layer_types(c, layers)
    out.update(attention_pattern=kinds, rotary_style="interleaved", tie_embeddings=False)
    if "global" in kinds:
        out["attention_head_gate"] = True
    if "kda" in kinds:  # the latent attention's heads, of head_dim, unless stated apart
        geometry = {ours: get(c, theirs) for ours, theirs in KDA_FROM.items()}
        geometry.update({ours: c[ours] for ours in KDA_FROM if c.get(ours) is not None})
        heads, width = geometry["linear_num_heads"], geometry["linear_head_dim"]
        out.update(linear_n_k_head=heads, linear_n_v_head=heads, linear_d_head_k=width,
                   linear_d_head_v=width, linear_conv_kernel=geometry["linear_conv_kernel_dim"],
                   kda_full_rank_gates=True)
    if c["tie_word_embeddings"]:
        out["notes"] = [*out.get("notes", []), "tie_word_embeddings true: transformers' "
                        "BailingHybridForCausalLM ties nothing, and the head is counted apart"]
    return counted_only(out, "Ling 3's full-rank kda gates and per-head gate on the latent "
                             "attention are counted, not built")


# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 935
ENTRIES = counted_entries({
    "bailing_hybrid": ("BailingHybridForCausalLM", "qwen3_next", read_bailing_hybrid)})
