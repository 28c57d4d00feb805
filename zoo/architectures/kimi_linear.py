"""Moonshot's Kimi Linear (kimi_linear: Kimi-Linear-48B-A3B), counted exactly, not built.

Three of every four layers are Kimi Delta Attention (`kda`): Gated DeltaNet whose decay is per
channel, with low-rank forget and output gates and a short convolution over q, k and v; they
keep a head_dim x head_dim state per head instead of keys. The rest are DeepSeek's multi-head
latent attention without positions (NoPE: transformers' class applies no rotary at all; the
shared key part is still qk_rope_head_dim wide), caching the latent and that shared key.
DeepSeek-V3's experts follow one dense layer: sigmoid scores with a selection-only bias, shared
experts, routed in groups. The closed form of a kda layer is in `zoo.accounting.recurrent`.

The checkpoint's config.json spells some keys as its remote code did (num_experts,
num_experts_per_token, num_shared_experts, moe_renormalize, num_expert_group,
model_max_length) and nests the linear geometry and the layer kinds in linear_attn_config
(1-indexed kda_layers and full_attn_layers); transformers' class reads both spellings, the
checkpoint's winning, and so does this reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures import deepseek
from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    get,
    shortest_period,
    with_defaults,
)
from zoo.architectures.counted import counted_entries
from zoo.architectures.moe import dense_layers_first

# transformers' KimiLinearConfig class defaults (5.25), under zoo's names for DeepSeek's keys
DEFAULTS: Config = {
    "vocab_size": 163840, "hidden_size": 2304, "intermediate_size": 9216,
    "moe_intermediate_size": 1024, "num_hidden_layers": 27, "num_attention_heads": 32,
    "num_key_value_heads": 32, "n_shared_experts": 1, "routed_scaling_factor": 2.446,
    "kv_lora_rank": 512, "q_lora_rank": None, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "qk_nope_head_dim": 128, "n_group": 1, "topk_group": 1, "num_experts_per_tok": 8,
    "norm_topk_prob": True, "hidden_act": "silu", "max_position_embeddings": 1048576,
    "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "attention_bias": False,
    "num_local_experts": 256, "mlp_layer_types": None, "layer_types": None,
    "linear_head_dim": 128, "linear_num_heads": 32, "linear_conv_kernel_dim": 4,
}
# the class's attribute_map: its name -> the checkpoint's, which wins where both are given
SPELLINGS = {"num_local_experts": "num_experts", "num_experts_per_tok": "num_experts_per_token",
             "n_shared_experts": "num_shared_experts", "norm_topk_prob": "moe_renormalize",
             "n_group": "num_expert_group", "max_position_embeddings": "model_max_length"}
# linear_attn_config's keys -> the class's own, which they override
NESTED = {"head_dim": "linear_head_dim", "num_heads": "linear_num_heads",
          "short_conv_kernel_size": "linear_conv_kernel_dim"}
LAYERS = {"linear_attention": "kda", "full_attention": "global"}
# keys of the remote code (and of later Kimi models) that transformers' class does not read:
# the value it builds as, and what it builds whatever they say
NOT_BUILT = {
    "moe_layer_freq": (1, "experts on every layer after the dense ones"),
    "mla_use_output_gate": (False, "no output gate on the latent attention"),
    "use_full_rank_gate": (False, "low-rank forget and output gates"),
}


def _nested(c: Mapping[str, Any]) -> dict[str, Any]:
    nested = c.get("linear_attn_config") or {}
    if not isinstance(nested, dict):
        raise UnsupportedConfigError("kimi_linear linear_attn_config must be an object")
    return nested


def _layer_types(c: Mapping[str, Any], layers: int) -> list[str]:
    """layer_types, else linear_attn_config's 1-indexed full_attn_layers and kda_layers (both,
    covering every layer), else every fourth layer full from the fifth (index 4)."""
    types, nested = c["layer_types"], _nested(c)
    if types is None and "full_attn_layers" in nested and "kda_layers" in nested:
        listed = {"full_attention": nested["full_attn_layers"],
                  "linear_attention": nested["kda_layers"]}
        by_layer: dict[int, str] = {}
        for kind, numbers in listed.items():
            for n in numbers:
                if not isinstance(n, int) or not 1 <= n <= layers:
                    raise UnsupportedConfigError(f"kimi_linear linear_attn_config lists layer "
                                                 f"{n!r}; layers are numbered 1 to {layers}")
                by_layer[n - 1] = kind
        missing = [i + 1 for i in range(layers) if i not in by_layer]
        if missing:
            raise UnsupportedConfigError(f"kimi_linear linear_attn_config names layer "
                                         f"{missing[0]} in neither full_attn_layers nor "
                                         f"kda_layers")
        types = [by_layer[i] for i in range(layers)]
    elif types is None:
        types = ["full_attention" if i and i % 4 == 0 else "linear_attention"
                 for i in range(layers)]
    unknown = sorted({str(t) for t in types} - set(LAYERS))
    if unknown:
        raise UnsupportedConfigError(f"kimi_linear layer_types has {', '.join(unknown)}; zoo "
                                     f"reads {', '.join(LAYERS)}")
    if len(types) != layers:
        raise UnsupportedConfigError(f"kimi_linear layer_types gives {len(types)} layers for "
                                     f"num_hidden_layers {layers}")
    return shortest_period([LAYERS[t] for t in types])


def read_kimi_linear(config: Mapping[str, Any]) -> Config:
    """KimiLinearConfig: kda layers beside NoPE latent attention, DeepSeek-V3's experts after
    the dense layers (mlp_layer_types, else first_k_dense_replace, 1 by default). The class
    never ties the head to the embedding (tie_word_embeddings is read and not applied); rotary
    keys are not read (no layer rotates)."""
    c = dict(config)
    for ours, theirs in SPELLINGS.items():
        if theirs in c:
            c[ours] = c[theirs]
    for key, (built, builds) in NOT_BUILT.items():
        value = c.get(key, _nested(c).get(key, built))
        if value != built:
            raise UnsupportedConfigError(f"kimi_linear {key} {value!r} is not supported: "
                                         f"transformers' class builds {builds} (as {key} "
                                         f"{built!r})")
    c = with_defaults(c, DEFAULTS)
    nested = _nested(c)
    for theirs, ours in NESTED.items():
        if theirs in nested:
            c[ours] = nested[theirs]
    layers = get(c, "num_hidden_layers")
    dense = dense_layers_first(c, get(c, "first_k_dense_replace", default=1))
    unrotated = {k: v for k, v in c.items() if k not in ("rope_parameters", "rope_scaling")}
    out = deepseek.read_latent({**unrotated, "n_routed_experts": get(c, "num_local_experts"),
                                 "first_k_dense_replace": dense})
    for key in ("rope_theta", "rotary_fraction", "rope_scaling"):
        out.pop(key, None)
    pattern = _layer_types(c, layers)
    out.update(
        position="none", tie_embeddings=False, attention_pattern=pattern,
        router_scoring="sigmoid", routing_bias=True, router_normalize=bool(c["norm_topk_prob"]),
        expert_groups=get(c, "n_group"), expert_groups_per_token=get(c, "topk_group"))
    if "kda" in pattern:  # one head count and width for queries, keys and values
        heads, width = get(c, "linear_num_heads"), get(c, "linear_head_dim")
        out.update(linear_n_k_head=heads, linear_n_v_head=heads, linear_d_head_k=width,
                   linear_d_head_v=width, linear_conv_kernel=get(c, "linear_conv_kernel_dim"))
    if c["tie_word_embeddings"]:
        out["notes"] = [*out.get("notes", []), "tie_word_embeddings true: transformers' "
                        "KimiLinearForCausalLM ties nothing, and the head is counted apart"]
    return out


# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 920
ENTRIES = counted_entries({
    "kimi_linear": ("KimiLinearForCausalLM", "qwen3_next", read_kimi_linear)})
