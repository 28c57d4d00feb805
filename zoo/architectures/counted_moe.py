"""Mixtures of experts in the long tail, counted but not built: sigmoid routing with shared
experts (HY-V3), gated attention and routing biases that are parameters (AFMoE, Laguna), latent
attention with an indexer (GLM-MoE-DSA, GLM-4.7 Flash), gated latent attention with sinks,
shared indexers and hyper-connections (HY-V4), two latent-attention sublayers a layer with
zero-computation experts (LongCat-Flash), attention experts (JetMoE) and MiMo-V2-Flash's
sliding layers.

As in `counted`, each reader states its class's defaults (transformers 5.25), and
tests/test_config_defaults.py drops each key of every default config in turn.
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
    read_layer_types,
    read_rope,
    text_decoder_of,
    with_defaults,
)
from zoo.architectures.counted import Reader, counted_entries
from zoo.architectures.llama import read_llama_like
from zoo.architectures.moe import dense_layers_first, sigmoid_routed
from zoo.architectures.towers import IDEFICS3_VISION, idefics3_vision


def _hy_v3(c: Mapping[str, Any]) -> Config:
    """Hunyuan 3: QK-norm over each head, attention_bias on q, k, v and the output, dense
    first layers (one unless mlp_layer_types says), then routed experts by sigmoid scores
    with a selection-only bias, renormalised and scaled, and a shared MLP. mlp_bias (on the
    dense and shared MLPs, not the experts) is refused by name."""
    c = with_defaults(c, {
        "vocab_size": 120832, "hidden_size": 4096, "intermediate_size": 13312,
        "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
        "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "attention_bias": False,
        "mlp_bias": False, "num_experts": 192, "num_experts_per_tok": 8,
        "num_shared_experts": 1, "moe_intermediate_size": 1536,
        "router_scaling_factor": 2.826})
    if c["mlp_bias"]:
        raise UnsupportedConfigError("hy_v3 with mlp_bias true (biases on the dense and shared "
                                     "MLPs, not the experts) is not supported")
    bias = bool(c["attention_bias"])
    out = read_llama_like(c, qk_norm="head", qkv_bias=bias, attn_out_bias=bias,
                          mlp_bias=False)
    return {**out, **sigmoid_routed(c, experts="num_experts", shared="num_shared_experts",
                                     scaling="router_scaling_factor", groups=False),
            "first_dense_layers": dense_layers_first(c, 1)}


# transformers' HYV4Config class defaults (5.25), for every key read below
HY_V4_DEFAULTS: Config = {
    "vocab_size": 120832, "hidden_size": 2816, "intermediate_size": 6912,
    "moe_intermediate_size": 768, "num_hidden_layers": 34, "num_attention_heads": 32,
    "hidden_act": "silu", "max_position_embeddings": 262144, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False, "attention_bias": False, "n_routed_experts": 256,
    "n_shared_experts": 1, "num_experts_per_tok": 8, "routed_scaling_factor": 2.827,
    "norm_topk_prob": True, "n_group": 1, "topk_group": 1, "q_lora_rank": 1536,
    "kv_lora_rank": 512, "qk_nope_head_dim": 192, "qk_rope_head_dim": 64, "v_head_dim": 256,
    "mlp_layer_types": None, "index_topk": 2048, "index_head_dim": 128, "index_n_heads": 16,
    "indexer_types": None, "hc_mult": 4, "swiglu_limit": 10.0,
}
# the remote code's switches for what HYV4ForCausalLM builds whatever they say (the output gate
# per value dim, a sink per head, iHC): a config that turns one off describes a checkpoint
# without it, which transformers would count with it
HY_V4_ALWAYS: Config = {"gated_mla": True, "gating_type": "elementwise",
                        "learnable_sink": True, "enable_ihc": True}


def _hy_v4_types(c: Config, key: str, kinds: tuple[str, str],
                 default: list[str]) -> list[str]:
    """mlp_layer_types or indexer_types: one of `kinds` per layer, or the class's default."""
    layers, types = get(c, "num_hidden_layers"), c[key]
    types = default if types is None else list(types)
    if len(types) != layers or not set(types) <= set(kinds):
        raise UnsupportedConfigError(f"hy_v4 {key} must give {' or '.join(kinds)} for each of "
                                     f"{layers} layers")
    return types


def _hy_v4(c: Mapping[str, Any]) -> Config:
    """Hunyuan 4 (HYV4ForCausalLM): DeepSeek-V3.2's latent attention (queries always through
    q_lora_rank, rotated in adjacent pairs) with an output gate per value dim (gate_proj
    d_model -> heads x v_head_dim) and a learned sink per head; a lightning indexer on the
    layers indexer_types marks "full" (by default the first, then every fourth from the
    second), the "shared" ones reusing the last one's choice with no indexer weights and no
    indexer key cached; a dense MLP or routed experts (sigmoid scores with a selection-only
    bias, renormalised and scaled) beside a shared MLP of n_shared_experts x
    moe_intermediate_size, per mlp_layer_types (by default one dense layer first); hc_mult
    residual streams, each sublayer reading and writing them through HY-V4's independent
    hyper-connections, the head reading them through its own. Not read, as no parameter
    depends on them: num_key_value_heads and head_dim (the class sets them from the heads and
    the rotated width), layer_types (the class builds one kind of layer whatever it names),
    index_topk beyond the spec's, hc_magnitude and hc_eps. attention_bias (q_a_proj,
    kv_a_proj_with_mqa and o_proj), another activation, and the remote code's switches off
    (HY_V4_ALWAYS) are refused by name."""
    c = with_defaults(c, HY_V4_DEFAULTS)
    for key, built in HY_V4_ALWAYS.items():
        if c.get(key, built) != built:
            raise UnsupportedConfigError(f"hy_v4 {key} {c[key]!r}: HYV4ForCausalLM builds the "
                                         f"gate, the sinks and iHC whatever it says; only "
                                         f"{built!r} is read")
    layers = get(c, "num_hidden_layers")
    mlp = _hy_v4_types(c, "mlp_layer_types", ("dense", "sparse"),
                       ["dense"] * min(1, layers) + ["sparse"] * max(layers - 1, 0))
    indexers = _hy_v4_types(c, "indexer_types", ("full", "shared"),
                            ["full" if i == 0 or (i - 1) % 4 == 0 else "shared"
                             for i in range(layers)])
    if indexers[0] != "full":
        raise UnsupportedConfigError("hy_v4 indexer_types must start with 'full': a shared "
                                     "layer reuses an earlier layer's indexer")
    dense = next((i for i, kind in enumerate(mlp) if kind != "dense"), layers)
    moe = ({"first_dense_layers": dense} if mlp == ["dense"] * dense + ["sparse"] * (layers - dense)
           else {"mlp_pattern": ["moe" if kind == "sparse" else "dense" for kind in mlp]})
    out = deepseek.read_latent_dense({**c, "q_lora_rank": get(c, "q_lora_rank"),
                                      "num_key_value_heads": None})
    out.update(
        rotary_style="interleaved", attention_output_gate=True, attention_sinks=True,
        indexer_heads=get(c, "index_n_heads"), indexer_head_dim=get(c, "index_head_dim"),
        indexer_topk=get(c, "index_topk"), indexer_pattern=[kind == "full" for kind in indexers],
        hyper_connections=get(c, "hc_mult"), hyper_connection_form="independent",
        n_experts=get(c, "n_routed_experts"), experts_per_token=get(c, "num_experts_per_tok"),
        d_ff_expert=get(c, "moe_intermediate_size"), n_shared_experts=get(c, "n_shared_experts"),
        router_scoring="sigmoid", routing_bias=True, router_normalize=bool(c["norm_topk_prob"]),
        routed_scaling=float(get(c, "routed_scaling_factor")),
        expert_groups=get(c, "n_group"), expert_groups_per_token=get(c, "topk_group"), **moe)
    out["notes"] = [f"the routed experts' gate and up are clamped at swiglu_limit "
                    f"({c['swiglu_limit']}), the dense and shared MLPs' not; "
                    f"multi-token-prediction layers are not built by transformers and not "
                    f"counted"]
    return counted_only(out, "HY-V4's gated latent attention with sinks, shared indexers and "
                             "independent hyper-connections are counted, not built")


def _afmoe(c: Mapping[str, Any]) -> Config:
    """AFMoE (Arcee Trinity): QK-norm over each head, the attention output gated by a
    projection as wide as q, norms before and after each sublayer, num_dense_layers dense
    first layers, then routed experts by sigmoid scores with a selection bias that is a
    parameter (expert_bias), and a shared MLP of num_shared_experts x the expert width.
    attention_bias (on q, k, v and the output, not the gate) is refused by name."""
    c = with_defaults(c, {
        "vocab_size": 200192, "hidden_size": 2048, "intermediate_size": 6144,
        "moe_intermediate_size": 1408, "num_hidden_layers": 32, "num_dense_layers": 1,
        "num_attention_heads": 16, "num_key_value_heads": None, "head_dim": 128,
        "hidden_act": "silu", "max_position_embeddings": 16384, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "num_experts": 64, "num_experts_per_tok": 6,
        "num_shared_experts": 2, "route_scale": 1.0, "attention_bias": False})
    if c["attention_bias"]:
        raise UnsupportedConfigError("afmoe with attention_bias true (biases on q, k, v and "
                                     "the output, none on the gate) is not supported")
    out = read_llama_like(c, qk_norm="head", norm_position="sandwich",
                          attention_output_gate=True, qkv_bias=False, attn_out_bias=False,
                          mlp_bias=False)
    return {**out, **sigmoid_routed(c, experts="num_experts", shared="num_shared_experts",
                                     scaling="route_scale", groups=False),
            "routing_bias_parameter": True, "first_dense_layers": get(c, "num_dense_layers")}


def _glm_moe_dsa(c: Mapping[str, Any]) -> Config:
    """GLM-5: DeepSeek-V3.2's latent attention with its indexer and routed experts (dense
    first layers as first_k_dense_replace or mlp_layer_types say). A layer whose
    indexer_types entry is "shared" reuses the last full layer's choice, with no indexer
    weights and no indexer key cached (indexer_pattern); see _glm_indexer_types for the legacy
    keys that derive it. mlp_bias is not read by its class."""
    c = with_defaults(c, {
        "vocab_size": 154880, "hidden_size": 6144, "intermediate_size": 12288,
        "moe_intermediate_size": 2048, "num_hidden_layers": 78, "num_attention_heads": 64,
        "num_key_value_heads": 64, "n_shared_experts": 1, "n_routed_experts": 256,
        "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 2048,
        "qk_rope_head_dim": 64, "v_head_dim": 256, "qk_nope_head_dim": 192, "n_group": 1,
        "topk_group": 1, "num_experts_per_tok": 8, "norm_topk_prob": True,
        "hidden_act": "silu", "max_position_embeddings": 202752, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "attention_bias": False, "index_topk": 2048,
        "index_head_dim": 128, "index_n_heads": 32, "first_k_dense_replace": 3})
    types = _glm_indexer_types(c, get(c, "num_hidden_layers"))
    dense = dense_layers_first(c, min(get(c, "first_k_dense_replace"),
                                    get(c, "num_hidden_layers")))
    out = deepseek.read_deepseek_v32({**c, "mlp_layer_types": None,
                                      "first_k_dense_replace": dense})
    if "shared" in types:
        out["indexer_pattern"] = [kind == "full" for kind in types]
    return out


def _glm_indexer_types(c: Mapping[str, Any], layers: int) -> list[str]:
    """GlmMoeDsaConfig's indexer_types, or what its __post_init__ derives when it is null: from
    the legacy index_topk_pattern ("F" full, "S" shared, one letter a layer; or a list), else
    every layer full but those index_topk_freq (default 1: none) skips from
    index_skip_topk_offset (default 2) on: layer i is full when max(i - offset + 1, 0) is a
    multiple of the frequency. The first layer must run its indexer."""
    types, pattern = c.get("indexer_types"), c.get("index_topk_pattern")
    if types is None and pattern is not None:
        if isinstance(pattern, str) and set(pattern) <= {"F", "S"}:
            types = [{"F": "full", "S": "shared"}[letter] for letter in pattern]
        elif isinstance(pattern, list):
            types = pattern
        else:
            raise UnsupportedConfigError(f"glm_moe_dsa index_topk_pattern {pattern!r}: expected "
                                         f"a string of F (full) and S (shared), a letter a layer")
    elif types is None:
        freq, offset = c.get("index_topk_freq", 1), c.get("index_skip_topk_offset", 2)
        if not (isinstance(freq, int) and isinstance(offset, int)):
            raise UnsupportedConfigError(f"glm_moe_dsa index_topk_freq {freq!r} / "
                                         f"index_skip_topk_offset {offset!r}: expected integers")
        types = ["full" if max(i - offset + 1, 0) % max(freq, 1) == 0 else "shared"
                 for i in range(layers)]
    if not isinstance(types, list) or len(types) < layers \
            or not set(types[:layers]) <= {"full", "shared"}:
        raise UnsupportedConfigError(f"glm_moe_dsa indexer_types {types!r}: expected 'full' or "
                                     f"'shared' for each of num_hidden_layers {layers}")
    if types[0] != "full":
        raise UnsupportedConfigError("glm_moe_dsa indexer_types must start with 'full': a "
                                     "shared layer reuses an earlier layer's indexer")
    return types[:layers]


def _mimo_v2_flash(c: Mapping[str, Any]) -> Config:
    """MiMo-V2-Flash: full attention on the first layer and every sixth, sliding windows
    elsewhere with twice the key/value heads and a learned sink per head, value heads of
    v_head_dim (narrower than the q/k heads), attention_bias on q, k and v; a dense first layer
    (or as mlp_layer_types says), then DeepSeek-V3's routing without shared experts. Its rope
    per layer type (a third of each head rotated) changes no count."""
    c = with_defaults(c, {
        "vocab_size": 152576, "hidden_size": 4096, "intermediate_size": 16384,
        "num_hidden_layers": 48, "num_attention_heads": 64, "num_key_value_heads": 4,
        "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "attention_bias": False, "moe_intermediate_size": 2048,
        "num_experts_per_tok": 8, "n_routed_experts": 256, "routed_scaling_factor": 1.0,
        "n_group": 1, "topk_group": 1, "norm_topk_prob": True, "head_dim": 192,
        "v_head_dim": 128, "sliding_window": 129})
    layers, kv = get(c, "num_hidden_layers"), get(c, "num_key_value_heads")
    types = c.get("layer_types") or [
        "full_attention" if i == 0 or not (i + 1) % 6 else "sliding_attention"
        for i in range(layers)]
    if len(types) != layers:
        raise UnsupportedConfigError(f"layer_types has {len(types)} entries for "
                                     f"num_hidden_layers {layers}")
    rope = c.get("rope_parameters") or {}
    full = rope.get("full_attention", rope) if isinstance(rope, Mapping) else {}
    params = {"rope_type": "default", "rope_theta": 5_000_000.0,
              "partial_rotary_factor": 0.334, **full}
    bias = bool(c["attention_bias"])
    if c["routed_scaling_factor"] is None:  # the published config's: its class multiplies
        c = {**c, "routed_scaling_factor": 1.0}  # by None when it runs; no count depends on it
    out = read_llama_like({k: v for k, v in c.items() if k != "rope_parameters"},
                          n_kv_head=2 * kv, qkv_bias=bias, attn_out_bias=False, mlp_bias=False,
                          **read_rope(c, params=params))
    local = "sliding_attention" in types
    out.update(read_layer_types({"layer_types": types}, get(c, "sliding_window")))
    if "full_attention" in types and local:
        out["global_kv_heads"] = kv
    elif not local:
        out["n_kv_head"] = kv
    return {**out, **sigmoid_routed(c, experts="n_routed_experts", shared=None,
                                     scaling="routed_scaling_factor"),
            "d_head_v": get(c, "v_head_dim"), "local_sinks": local,
            "first_dense_layers": dense_layers_first(c, 1)}


def _laguna(c: Mapping[str, Any]) -> Config:
    """Laguna: QK-norm over each head, the attention output gated per head (gating true or
    "per-head") or per query dim by a projection without bias, attention_bias on q, k, v and
    the output; a dense first layer (or as mlp_layer_types says), then experts routed by
    sigmoid scores with a selection bias that is a parameter, beside a shared MLP of
    shared_expert_intermediate_size. num_attention_heads_per_layer must give every layer the
    same heads."""
    c = with_defaults(c, {
        "vocab_size": 100352, "hidden_size": 2048, "intermediate_size": 8192,
        "num_hidden_layers": 40, "num_attention_heads": 48, "num_key_value_heads": 8,
        "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "sliding_window": 512, "moe_intermediate_size": 512,
        "shared_expert_intermediate_size": 512, "num_experts_per_tok": 8, "num_experts": 256,
        "head_dim": 128, "attention_bias": False, "gating": True,
        "moe_routed_scaling_factor": 1.0})
    heads = get(c, "num_attention_heads")
    per_layer = c.get("num_attention_heads_per_layer")
    if per_layer:
        if len(set(per_layer)) != 1:
            raise UnsupportedConfigError("num_attention_heads_per_layer with layers of "
                                         "different head counts is not supported")
        heads = per_layer[0]
    per_head = c["gating"] is True or c["gating"] == "per-head"
    bias = bool(c["attention_bias"])
    if bias and not per_head:
        raise UnsupportedConfigError("laguna with attention_bias true and a gate per query "
                                     "dim (none on the gate) is not supported")
    d = get(c, "hidden_size")
    rope = c.get("rope_parameters") or {}
    full = rope.get("full_attention", rope) if isinstance(rope, Mapping) else {}
    params = {"rope_type": "default", "rope_theta": 500000.0, "partial_rotary_factor": 0.5,
              **full}
    out = read_llama_like({k: v for k, v in c.items() if k != "rope_parameters"},
                          n_head=heads, d_head=get(c, "head_dim", default=d // get(
                              c, "num_attention_heads")),
                          qk_norm="head", qkv_bias=bias, attn_out_bias=bias, mlp_bias=False,
                          attention_head_gate=per_head, attention_output_gate=not per_head,
                          **read_rope(c, params=params))
    out.update(read_layer_types(c, get(c, "sliding_window", default=None)))
    shared = get(c, "shared_expert_intermediate_size")
    return {**out, **sigmoid_routed(c, experts="num_experts", shared=None,
                                     scaling="moe_routed_scaling_factor", groups=False),
            "routing_bias_parameter": True, "first_dense_layers": dense_layers_first(c, 1),
            **({"n_shared_experts": 1, "d_ff_shared": shared} if shared else {})}


def _jetmoe(c: Mapping[str, Any]) -> Config:
    """JetMoE: a mixture of attention heads (num_experts_per_tok of num_local_experts experts,
    each a query and an output projection of num_key_value_heads x kv_channels, beside one
    key/value projection; its class sets num_attention_heads to their product) and a gated
    mixture of experts intermediate_size wide in every layer, each with a router and an output
    bias; no other biases; the head tied unless the config says."""
    c = with_defaults(c, {
        "vocab_size": 32000, "hidden_size": 2048, "num_hidden_layers": 12,
        "num_key_value_heads": 16, "kv_channels": 128, "intermediate_size": 5632,
        "max_position_embeddings": 4096, "activation_function": "silu",
        "num_local_experts": 8, "num_experts_per_tok": 2, "tie_word_embeddings": True,
        "rms_norm_eps": 1e-6})
    kv, k = get(c, "num_key_value_heads"), get(c, "num_experts_per_tok")
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=get(c, "hidden_size"),
                n_head=kv * k, n_kv_head=kv, d_head=get(c, "kv_channels"),
                d_ff=get(c, "intermediate_size"), vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                **read_rope(c), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
                activation="swiglu", bias=False, n_experts=get(c, "num_local_experts"),
                experts_per_token=k, attention_experts=True,
                tie_embeddings=bool(c["tie_word_embeddings"]))


# transformers' LongcatFlashConfig defaults (5.25); router_bias is not a field but read with
# getattr, so a config.json may set it
LONGCAT_FLASH_DEFAULTS = {
    "vocab_size": 131072, "hidden_size": 6144, "num_layers": 28, "num_attention_heads": 64,
    "num_key_value_heads": None, "hidden_act": "silu", "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "attention_bias": False,
    "ffn_hidden_size": 12288, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_head_dim": None,
    "moe_topk": 12, "n_routed_experts": 512, "zero_expert_num": 256,
    "expert_ffn_hidden_size": 2048, "routed_scaling_factor": 6.0, "router_bias": False}
# its attribute_map: a config.json may use these names, which win over the class's own
LONGCAT_FLASH_ALIASES = {"num_local_experts": "n_routed_experts",
                         "num_experts_per_tok": "moe_topk",
                         "intermediate_size": "ffn_hidden_size",
                         "moe_intermediate_size": "expert_ffn_hidden_size"}


def _longcat_flash(c: Mapping[str, Any]) -> Config:
    """LongCat-Flash: each of num_layers layers holds two sublayers, counted as two zoo blocks
    (2 x num_layers, the class's num_hidden_layers, which a config.json may set instead). Each
    block has DeepSeek's latent attention (queries always through q_lora_rank, rotated in
    adjacent pairs) and a dense SwiGLU MLP of ffn_hidden_size, with a norm before each; the
    first block of a pair also holds the layer's "shortcut" mixture of experts, which reads
    the same normalised input as that block's MLP (its output is added after the second
    block): n_routed_experts experts of expert_ffn_hidden_size beside zero_expert_num
    zero-computation ones (a token sent there passes through unchanged), all scored by one
    softmax router without a bias unless router_bias says, with a selection-only bias that is
    a buffer, the weights not renormalised, no shared expert. A token uses as many real
    experts as its moe_topk choices that are not zero experts: the active figures count
    moe_topk real ones, the most (the card's upper figure)."""
    aliased = {canonical: c[alias] for alias, canonical in LONGCAT_FLASH_ALIASES.items()
               if c.get(alias) is not None}
    c = with_defaults({**c, **aliased}, LONGCAT_FLASH_DEFAULTS)
    layers = get(c, "num_layers")
    if c.get("num_hidden_layers") is not None:  # the class's setter: half of it, rounded down
        layers = c["num_hidden_layers"] // 2
    if layers < 1:
        raise UnsupportedConfigError(f"longcat_flash with num_layers {layers}: no layer")
    nope, rope = get(c, "qk_nope_head_dim"), get(c, "qk_rope_head_dim")
    if c["qk_head_dim"] is not None and c["qk_head_dim"] != nope + rope:
        raise UnsupportedConfigError(
            f"longcat_flash qk_head_dim {c['qk_head_dim']} is not qk_nope_head_dim {nope} + "
            f"qk_rope_head_dim {rope}: the query heads are split into those two")
    out = deepseek.read_latent_dense({
        **c, "num_hidden_layers": 2 * layers, "intermediate_size": get(c, "ffn_hidden_size"),
        "q_lora_rank": get(c, "q_lora_rank")})
    zero = c["zero_expert_num"] or 0
    out["notes"] = [*out.get("notes", []),
                    f"its {layers} layers of two sublayers each are counted as {2 * layers} "
                    f"blocks, the mixture of experts in the first of each pair"]
    return {**out, "rotary_style": "interleaved", "n_experts": get(c, "n_routed_experts"),
            "experts_per_token": get(c, "moe_topk"),
            "d_ff_expert": get(c, "expert_ffn_hidden_size"), "zero_experts": zero,
            "mlp_pattern": ["moe", "dense"], "dense_mlp_with_experts": True,
            "router_scoring": "softmax", "router_normalize": False, "routing_bias": True,
            "router_bias": bool(c["router_bias"]),
            "routed_scaling": float(get(c, "routed_scaling_factor"))}


def _aria_text(c: Mapping[str, Any]) -> Config:
    """Aria's text decoder: LLaMA's attention (attention_bias on q, k, v and the output) before
    a mixture of experts in every layer: moe_num_experts experts of intermediate_size (always
    SiLU-gated), a router without a bias whose top moe_topk logits are softmaxed (a softmax
    over all, renormalised), and beside them one shared MLP of moe_num_shared_experts x
    intermediate_size, ungated. mlp_bias (on the shared MLP, not the experts) is refused by
    name."""
    c = with_defaults(c, {
        "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 4096,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": None,
        "hidden_act": "silu", "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
        "head_dim": None, "moe_num_experts": 8, "moe_topk": 2, "moe_num_shared_experts": 2})
    if c["mlp_bias"]:
        raise UnsupportedConfigError("aria_text with mlp_bias true (biases on the shared MLP, "
                                     "not the experts) is not supported")
    bias = bool(c["attention_bias"])
    width = get(c, "intermediate_size")
    return read_llama_like(c, qkv_bias=bias, attn_out_bias=bias, mlp_bias=False,
                           n_experts=get(c, "moe_num_experts"),
                           experts_per_token=get(c, "moe_topk"), d_ff_expert=width,
                           n_shared_experts=get(c, "moe_num_shared_experts"))


def _aria(c: Mapping[str, Any]) -> Config:
    """The text decoder of an Aria image-text model, with the parameters of the rest: the
    Idefics3 vision tower and the projector (learned queries, as many as
    projector_patch_to_query_dict's largest value, cross-attending to the tower's patches
    through q/k/v projections, nn.MultiheadAttention and a biased linear, under three
    LayerNorms, then a bias-free GELU MLP to the text width). The wrapper's own
    tie_word_embeddings (false unless set) ties its head, whatever text_config says."""
    text = _aria_text({**(c.get("text_config") or {}),
                       "tie_word_embeddings": bool(c.get("tie_word_embeddings", False))})
    vision = {k: v for k, v in (c.get("vision_config") or {}).items() if v is not None}
    queries = c.get("projector_patch_to_query_dict") or {1225: 128, 4900: 256}
    width, d = vision.get("hidden_size", IDEFICS3_VISION["hidden_size"]), text["d_model"]
    projector = (max(int(q) for q in queries.values()) * width  # the learned queries
                 + 3 * width * width  # q, k, v
                 + 3 * width * width + 3 * width + width * width + width  # MultiheadAttention
                 + width * width + width  # linear
                 + 3 * 2 * width  # three LayerNorms
                 + width * d + d * d)  # the MLP
    return text_decoder_of(text, "AriaForConditionalGeneration",
                           "Idefics3 vision tower and projector",
                           idefics3_vision(vision) + projector)


# MiniMax-M3's per-layer attention (layer_types) and MLP (mlp_layer_types) in zoo's words
M3_ATTENTION = {"full_attention": "global", "minimax_m3_sparse": "block_sparse"}
M3_MLP = {"dense": "dense", "sparse": "moe"}
# the flat indexer keys and the legacy sparse_attention_config's, which win where both are set
M3_INDEX_KEYS = {"index_n_heads": "sparse_num_index_heads", "index_head_dim": "sparse_index_dim",
                 "index_block_size": "sparse_block_size",
                 "index_topk_blocks": "sparse_topk_blocks"}


def _m3_layers(c: Mapping[str, Any], key: str, legacy: Any, kinds: Mapping[str, str],
               default: str) -> list[str]:
    """One of MiniMax-M3's per-layer lists in zoo's words: `key` as given, else from the
    remote code's 0/1 list `legacy` (1: the second kind), else `default` on every layer."""
    layers = get(c, "num_hidden_layers")
    names = list(kinds)
    types = c.get(key)
    if types is None:
        types = [names[bool(f)] for f in legacy] if legacy is not None else [default] * layers
    if len(types) != layers or not set(types) <= set(kinds):
        raise UnsupportedConfigError(f"minimax_m3_vl_text's {key} must give one of "
                                     f"{', '.join(names)} for each of {layers} layers")
    return [kinds[t] for t in types]


def _minimax_m3(c: Mapping[str, Any]) -> Config:
    """MiniMax-M3's text decoder (MiniMaxM3VLForCausalLM): grouped-query attention with an
    RMSNorm over each q and k head and partial rotary; on the layers layer_types calls
    minimax_m3_sparse, a lightning indexer whose index_n_heads query heads and one key head
    (each RMS-normalised, index_head_dim wide, from the layer's input; no weights per head,
    unlike DeepSeek-V3.2's) score blocks of keys, each indexer head choosing the blocks of one
    kv group (block_sparse layers: its key is cached beside the layer's keys and values).
    Dense MLPs of dense_intermediate_size or experts of intermediate_size as mlp_layer_types
    says, with one shared expert of shared_intermediate_size beside them, routed by sigmoid
    scores and a selection-only bias, renormalised, scaled by routed_scaling_factor; every MLP
    gated by a clamped SwiGLU. The remote code's sparse_attention_config and moe_layer_freq are
    read as transformers reads them; its keys that would build what transformers does not are
    refused by name. The multi-token-prediction modules are not built, nor counted."""
    c = with_defaults(c, {
        "vocab_size": 200064, "hidden_size": 6144, "intermediate_size": 3072,
        "num_hidden_layers": 60, "num_attention_heads": 64, "num_key_value_heads": 4,
        "head_dim": 128, "max_position_embeddings": 524288, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "num_experts_per_tok": 4, "num_local_experts": 128,
        "routed_scaling_factor": 2.0, "dense_intermediate_size": 12288,
        "shared_intermediate_size": 3072, "swiglu_limit": 7.0, "index_n_heads": 4,
        "index_head_dim": 128, "index_block_size": 128, "index_topk_blocks": 16})
    sparse = c.get("sparse_attention_config") or {}
    c = {**c, **{flat: sparse[legacy] for flat, legacy in M3_INDEX_KEYS.items()
                 if legacy in sparse}}
    refused = [
        ("use_qk_norm", c.get("use_qk_norm", True) is not True, "true"),
        ("qk_norm_type", c.get("qk_norm_type", "per_head") != "per_head", "per_head"),
        ("n_shared_experts", c.get("n_shared_experts", 1) != 1, "1 (the class builds one)"),
        ("scoring_func", c.get("scoring_func", "sigmoid") != "sigmoid", "sigmoid"),
        ("sparse_attention_config.use_sparse_attention",
         sparse.get("use_sparse_attention", True) is not True, "true")]
    for key, wrong, expected in refused:
        if wrong:
            raise UnsupportedConfigError(f"minimax_m3_vl_text's {key} must be {expected}: "
                                         f"MiniMaxM3VLForCausalLM builds nothing else")
    attention = _m3_layers(c, "layer_types", sparse.get("sparse_attention_freq"),
                           M3_ATTENTION, "full_attention")
    mlp = _m3_layers(c, "mlp_layer_types", c.get("moe_layer_freq"), M3_MLP, "sparse")
    no_value = sparse.get("sparse_disable_index_value")
    if no_value is not None and any(kind == "block_sparse" and not (i < len(no_value)
                                                                    and no_value[i])
                                    for i, kind in enumerate(attention)):
        raise UnsupportedConfigError("minimax_m3_vl_text's sparse_attention_config."
                                     "sparse_disable_index_value must be 1 on every sparse "
                                     "layer: transformers builds no index-value path")
    dense_first = c.get("first_k_dense_replace")
    if dense_first is not None and mlp != ["dense"] * dense_first + ["moe"] * (
            len(mlp) - dense_first):
        raise UnsupportedConfigError("minimax_m3_vl_text's first_k_dense_replace disagrees with "
                                     "mlp_layer_types (moe_layer_freq), which transformers reads")
    out = read_llama_like({**c, "intermediate_size": get(c, "dense_intermediate_size"),
                           "hidden_act": "silu"},
                          qk_norm="head", activation="clamped_swiglu",
                          swiglu_limit=float(get(c, "swiglu_limit")))
    out.update(attention_pattern=attention, mlp_pattern=mlp,
               n_experts=get(c, "num_local_experts"),
               experts_per_token=get(c, "num_experts_per_tok"),
               d_ff_expert=get(c, "intermediate_size"), n_shared_experts=1,
               d_ff_shared=get(c, "shared_intermediate_size"), router_scoring="sigmoid",
               routing_bias=True, router_normalize=True,
               routed_scaling=float(get(c, "routed_scaling_factor")))
    if "block_sparse" in attention:
        out.update(indexer_heads=get(c, "index_n_heads"),
                   indexer_head_dim=get(c, "index_head_dim"),
                   indexer_topk=get(c, "index_topk_blocks") * get(c, "index_block_size"))
    return out


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "jetmoe": ("JetMoeForCausalLM", "mixtral", _jetmoe),
    "laguna": ("LagunaForCausalLM", "qwen3_next", _laguna),
    "mimo_v2_flash": ("MiMoV2FlashForCausalLM", "gpt_oss", _mimo_v2_flash),
    "glm_moe_dsa": ("GlmMoeDsaForCausalLM", "deepseek_v32", _glm_moe_dsa),
    "afmoe": ("AfmoeForCausalLM", "qwen3_next", _afmoe),
    "hy_v3": ("HYV3ForCausalLM", "glm4_moe", _hy_v3),
    "hy_v4": ("HYV4ForCausalLM", "deepseek_v32", _hy_v4),
    "aria_text": ("AriaTextForCausalLM", "qwen2_moe", _aria_text),
    "aria": ("AriaForConditionalGeneration", "qwen2_moe", _aria),
    "deepseek_v4": ("DeepseekV4ForCausalLM", "deepseek_v32", deepseek.read_deepseek_v4),
    "longcat_flash": ("LongcatFlashForCausalLM", "deepseek_v3", _longcat_flash),
    "minimax_m3_vl_text": ("MiniMaxM3VLForCausalLM", "minimax_m2", _minimax_m3),
}

# after counted's entries (see zoo.architectures); none of them writes a config
PRIORITY = 901
ENTRIES = counted_entries(COUNTED)
