"""The DeepSeek line: DeepSeek-V3 (deepseek_v3, and Moonshot's Kimi K2, whose config.json says
kimi_k2 but which transformers builds with DeepseekV3ForCausalLM): multi-head latent attention,
dense first layers then mixtures of routed and shared experts, sigmoid routing with a
selection-only bias and expert groups. DeepSeek-V2 (deepseek_v2): the same attention (V2-Lite's
queries without a latent), softmax routing, greedy or group-limited by each group's best
expert, the weights not renormalised. DeepSeek-V3.2 (deepseek_v32): DeepSeek-V3 with sparse
attention, an indexer in every layer picking the keys each query attends to. Zhipu's GLM-4.5
(glm4_moe): DeepSeek-V3's mixture of experts under grouped-query attention with q/k/v biases,
half of each head rotated and an optional per-head QK-norm.

Each reader starts from its transformers class's defaults, stated once below (a key a config.json
leaves out means what it means there); keys that change the count and that zoo does not model
are refused by name. Hub checkpoints keep one tensor per expert; zoo stacks them. A checkpoint's
multi-token-prediction layers (after the last layer) are not built by transformers and are
ignored here too: the spec files say what they would add.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    counted_only,
    fused,
    get,
    linear,
    norm,
    read_rope,
    same,
    write_rope,
)
from zoo.architectures.llama import QK_NORMS, read_llama_like, write_llama_like
from zoo.architectures.moe import ATTENTION, OUTER, experts
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
MOE = f"{LAYER}.mlp"

# transformers' DeepseekV3Config class defaults (5.25), for every key read below
V3_DEFAULTS: Config = {
    "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128,
    "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
    "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 1536,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128, "n_group": 8,
    "topk_group": 4, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
    "norm_topk_prob": True, "hidden_act": "silu", "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "rope_interleave": True,
    "attention_bias": False,
}


def _with_defaults(c: Mapping[str, Any], defaults: Config) -> Config:
    """The config over its class's defaults. A null stays null, as transformers keeps it: for
    q_lora_rank it means queries without a latent, for a switch it is false, and for a size
    `get` refuses it by name."""
    return {**defaults, **c}


# the epsilon of the latents' RMSNorms (q_a_layernorm, kv_a_layernorm) in every latent-attention
# class transformers has, whatever rms_norm_eps says: DeepseekV2/V3/V32RMSNorm's default
LATENT_EPS = 1e-6


def read_latent(c: Config) -> Config:
    """What the latent-attention MoE classes share: read_latent_dense's fields and DeepSeek's
    experts."""
    return {**read_latent_dense(c),
            "n_experts": get(c, "n_routed_experts"),
            "experts_per_token": get(c, "num_experts_per_tok"),
            "d_ff_expert": get(c, "moe_intermediate_size"),
            "n_shared_experts": get(c, "n_shared_experts"),
            "first_dense_layers": get(c, "first_k_dense_replace"),
            "routed_scaling": float(get(c, "routed_scaling_factor"))}


def read_latent_dense(c: Config, longrope: bool = False) -> Config:
    """What the latent-attention classes share: the attention geometry, the dense MLP, norms
    and embeddings (every key read must be in `c`: the class's defaults under the config);
    `longrope` for the classes built with it (MiniCPM3).
    Refused by name: biases (attention_bias puts them on the down projections and the output,
    which zoo's latent attention does not build), an activation other than SiLU, and fewer
    key/value heads than heads."""
    if c["attention_bias"]:
        raise UnsupportedConfigError(
            f"{c.get('model_type')} with attention_bias true (biases on q_a_proj, "
            f"kv_a_proj_with_mqa and o_proj) is not supported")
    if c["hidden_act"] != "silu":
        raise UnsupportedConfigError(f"hidden_act {c['hidden_act']!r}: zoo's gated MLP here "
                                     f"is SwiGLU (silu)")
    heads = get(c, "num_attention_heads")
    nope, rope = get(c, "qk_nope_head_dim"), get(c, "qk_rope_head_dim")
    out = dict(
        n_layer=get(c, "num_hidden_layers"), d_model=get(c, "hidden_size"), n_head=heads,
        d_head=nope + rope, d_head_rope=rope, d_head_v=get(c, "v_head_dim"),
        kv_lora_rank=get(c, "kv_lora_rank"), q_lora_rank=c["q_lora_rank"],
        d_ff=get(c, "intermediate_size"), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), position="rotary",
        **{k: v for k, v in read_rope(c, longrope=longrope).items() if k != "rotary_fraction"},
        norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"), activation="swiglu", bias=False,
        tie_embeddings=bool(c["tie_word_embeddings"]))
    if out["norm_eps"] != LATENT_EPS:  # the classes build q_a_ and kv_a_layernorm at 1e-6
        out["latent_norm_eps"] = LATENT_EPS
    if c["num_key_value_heads"] not in (None, heads):  # null: as many as heads
        # no parameter depends on it: latent attention expands keys and values for every head
        # (transformers' forward then repeats them to a shape that does not fit)
        counted_only(out, f"num_key_value_heads {c['num_key_value_heads']} is not "
                          f"num_attention_heads {heads}")
    return out


def write_latent_dense(s: ModelSpec) -> Config:
    """`read_latent_dense`'s keys: the latent attention's geometry, the dense MLP, norms."""
    if not s.latent:
        raise UnsupportedConfigError("DeepSeek's attention is latent")
    assert s.d_head_rope is not None and s.d_head_v is not None
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.n_head,
            "qk_nope_head_dim": s.head_dim - s.d_head_rope, "qk_rope_head_dim": s.d_head_rope,
            "v_head_dim": s.d_head_v, "kv_lora_rank": s.kv_lora_rank,
            "q_lora_rank": s.q_lora_rank, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "rms_norm_eps": s.norm_eps,
            "hidden_act": "silu", "attention_bias": False, **write_rope(s, {})}


def _write_latent(s: ModelSpec) -> Config:
    if not s.moe:
        raise UnsupportedConfigError("not a mixture of experts")
    return {**write_latent_dense(s),
            "n_routed_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "moe_intermediate_size": s.expert_width, "n_shared_experts": s.n_shared_experts,
            "first_k_dense_replace": s.first_dense_layers,
            "routed_scaling_factor": s.routed_scaling}


# --- DeepSeek-V3 (and Kimi K2) ----------------------------------------------------------------

def read_deepseek_v3(c: Mapping[str, Any]) -> Config:
    """DeepSeek-V3's class hard-codes what its config does not say: sigmoid scores with the
    selection bias (topk_method and scoring_func are not read), RMSNorm, SwiGLU, no MLP
    biases; rope_interleave (default true) pairs adjacent dims."""
    c = _with_defaults(c, V3_DEFAULTS)
    return {**read_latent(c), "rotary_style": "interleaved" if c["rope_interleave"] else "half",
            "router_scoring": "sigmoid", "routing_bias": True,
            "router_normalize": bool(c["norm_topk_prob"]),
            "expert_groups": get(c, "n_group"), "expert_groups_per_token": get(c, "topk_group")}


def write_deepseek_v3(s: ModelSpec) -> Config:
    if s.router_scoring != "sigmoid" or not s.routing_bias:
        raise UnsupportedConfigError("DeepSeek-V3 routes by sigmoid scores with a selection bias")
    return {**_write_latent(s), "rope_interleave": s.rotary_style == "interleaved",
            "norm_topk_prob": s.router_normalize, "n_group": s.expert_groups or 1,
            "topk_group": s.expert_groups_per_token or 1}


# --- DeepSeek-V2 ------------------------------------------------------------------------------

# transformers' DeepseekV2Config class defaults (5.25), for every key read below
V2_DEFAULTS: Config = {
    "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": None,
    "hidden_act": "silu", "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
    "first_k_dense_replace": 0, "kv_lora_rank": 512, "q_lora_rank": 1536, "n_group": None,
    "n_routed_experts": 64, "n_shared_experts": 2, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "routed_scaling_factor": 1.0, "topk_group": None,
    "topk_method": "greedy", "v_head_dim": 128, "num_experts_per_tok": None,
    "moe_intermediate_size": 1407,
}
V2_TOPK_METHODS = ("greedy", "group_limited_greedy")


def read_deepseek_v2(c: Mapping[str, Any]) -> Config:
    """DeepSeek-V2's class: softmax scores, the top experts' weights scaled but never
    renormalised (it does not read norm_topk_prob), rotary on adjacent pairs (complex
    multiplication); `group_limited_greedy` keeps the topk_group groups whose best expert
    scores highest. mlp_bias (on the dense and shared MLPs, not the experts) and a
    moe_layer_freq other than 1 (which transformers ignores) are refused by name."""
    c = _with_defaults(c, V2_DEFAULTS)
    if c["mlp_bias"]:
        raise UnsupportedConfigError("deepseek_v2 with mlp_bias true (biases on the dense and "
                                     "shared MLPs, not the experts) is not supported")
    if c.get("moe_layer_freq", 1) != 1:
        raise UnsupportedConfigError(f"deepseek_v2 moe_layer_freq {c['moe_layer_freq']}: "
                                     f"transformers builds a MoE in every layer after "
                                     f"first_k_dense_replace; only 1 is read")
    method = c["topk_method"]
    if method not in V2_TOPK_METHODS:
        raise UnsupportedConfigError(f"deepseek_v2 topk_method {method!r} is not supported; "
                                     f"transformers' class routes by {', '.join(V2_TOPK_METHODS)}")
    groups: Config = {}
    if method == "group_limited_greedy":
        groups = {"expert_groups": get(c, "n_group"),
                  "expert_groups_per_token": get(c, "topk_group"), "expert_group_score": "max"}
    unset: Config = {}
    if c["num_experts_per_tok"] is None:  # the class default: no count depends on it
        unset = counted_only({"unpublished": ["experts_per_token"]},
                             "num_experts_per_tok null: transformers builds every expert but "
                             "its router picks none (torch.topk with k None); the active "
                             "figures assume every expert")
        c = {**c, "num_experts_per_tok": get(c, "n_routed_experts")}
    return {**read_latent(c), "rotary_style": "interleaved", "router_scoring": "softmax",
            "router_normalize": False, **groups, **unset}


def write_deepseek_v2(s: ModelSpec) -> Config:
    if s.router_scoring != "softmax" or s.routing_bias or s.router_normalize:
        raise UnsupportedConfigError("DeepSeek-V2 routes by softmax scores, unbiased, not "
                                     "renormalised")
    if s.rotary_style != "interleaved":
        raise UnsupportedConfigError("DeepSeek-V2 rotates adjacent pairs")
    grouped = s.expert_groups is not None
    return {**_write_latent(s), "mlp_bias": False,
            "topk_method": "group_limited_greedy" if grouped else "greedy",
            "n_group": s.expert_groups, "topk_group": s.expert_groups_per_token}


LATENT = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
    **same("blocks.{i}.attn.q.weight", f"{ATTN}.q_proj.weight"),
    **same("blocks.{i}.attn.q_down.weight", f"{ATTN}.q_a_proj.weight"),
    **norm("blocks.{i}.attn.q_down_norm", f"{ATTN}.q_a_layernorm"),
    **same("blocks.{i}.attn.q_up.weight", f"{ATTN}.q_b_proj.weight"),
    **same("blocks.{i}.attn.kv_down.weight", f"{ATTN}.kv_a_proj_with_mqa.weight"),
    **norm("blocks.{i}.attn.kv_down_norm", f"{ATTN}.kv_a_layernorm"),
    **same("blocks.{i}.attn.kv_up.weight", f"{ATTN}.kv_b_proj.weight"),
    **same("blocks.{i}.attn.out.weight", f"{ATTN}.o_proj.weight"),
    # the dense first layers
    **fused("blocks.{i}.mlp.fc_in", (f"{LAYER}.mlp.gate_proj", f"{LAYER}.mlp.up_proj"),
            "gate_up"),
    **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.down_proj"),
    # the MoE layers
    **experts(MOE, "gate_proj", "up_proj", "down_proj"),
    **same("blocks.{i}.mlp.routing_bias", f"{MOE}.gate.e_score_correction_bias"),
    **fused("blocks.{i}.mlp.shared.fc_in", (f"{MOE}.shared_experts.gate_proj",
                                            f"{MOE}.shared_experts.up_proj"), "gate_up"),
    **linear("blocks.{i}.mlp.shared.fc_out", f"{MOE}.shared_experts.down_proj"),
    **norm("final_norm", "model.norm"),
    **same("head.weight", "lm_head.weight"),
}

# --- DeepSeek-V3.2 ----------------------------------------------------------------------------

# transformers' DeepseekV32Config class defaults (5.25), for every key read below
V32_DEFAULTS: Config = {
    "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128,
    "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
    "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 1536,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128, "n_group": 8,
    "topk_group": 4, "num_experts_per_tok": 8, "norm_topk_prob": True, "hidden_act": "silu",
    "max_position_embeddings": 163840, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "mlp_layer_types": None, "attention_bias": False, "index_topk": 2048,
    "index_head_dim": 128, "index_n_heads": 64, "first_k_dense_replace": 3,
}


def read_deepseek_v32(c: Mapping[str, Any]) -> Config:
    """DeepSeek-V3.2's class: DeepSeek-V3 (its queries always through the latent, rotated in
    adjacent pairs whatever rope_interleave says) with a sparse-attention indexer in every
    layer. mlp_layer_types, when given, must be first_k_dense_replace dense layers then MoE."""
    c = _with_defaults(c, V32_DEFAULTS)
    layers, dense = get(c, "num_hidden_layers"), get(c, "first_k_dense_replace")
    types = c["mlp_layer_types"]
    if types is not None:
        dense = next((i for i, kind in enumerate(types) if kind != "dense"), len(types))
        if list(types) != ["dense"] * dense + ["sparse"] * (layers - dense):
            raise UnsupportedConfigError("deepseek_v32 mlp_layer_types other than dense layers "
                                         "then sparse ones are not supported")
    if c["q_lora_rank"] is None:
        raise UnsupportedConfigError("deepseek_v32 needs q_lora_rank: its attention and "
                                     "indexer read the query latent")
    return {**read_latent({**c, "first_k_dense_replace": dense}),
            "rotary_style": "interleaved", "router_scoring": "sigmoid", "routing_bias": True,
            "router_normalize": bool(c["norm_topk_prob"]),
            "expert_groups": get(c, "n_group"), "expert_groups_per_token": get(c, "topk_group"),
            "indexer_heads": get(c, "index_n_heads"),
            "indexer_head_dim": get(c, "index_head_dim"), "indexer_topk": get(c, "index_topk")}


def write_deepseek_v32(s: ModelSpec) -> Config:
    if not s.sparse_attention:
        raise UnsupportedConfigError("DeepSeek-V3.2's attention is sparse (an indexer)")
    if s.router_scoring != "sigmoid" or not s.routing_bias or s.rotary_style != "interleaved":
        raise UnsupportedConfigError("DeepSeek-V3.2 routes by sigmoid scores with a selection "
                                     "bias and rotates adjacent pairs")
    return {**_write_latent(s), "norm_topk_prob": s.router_normalize,
            "n_group": s.expert_groups or 1, "topk_group": s.expert_groups_per_token or 1,
            "index_n_heads": s.indexer_heads, "index_head_dim": s.indexer_head_dim,
            "index_topk": s.indexer_topk}


INDEXER = {
    **same("blocks.{i}.attn.indexer.wq_b.weight", f"{ATTN}.indexer.wq_b.weight"),
    **same("blocks.{i}.attn.indexer.wk.weight", f"{ATTN}.indexer.wk.weight"),
    **norm("blocks.{i}.attn.indexer.k_norm", f"{ATTN}.indexer.k_norm"),
    **same("blocks.{i}.attn.indexer.weights_proj.weight", f"{ATTN}.indexer.weights_proj.weight"),
}


# --- DeepSeek-V4 (counted, not built) -------------------------------------------------------

# transformers' DeepseekV4Config class defaults (5.25), for every key read below
V4_DEFAULTS: Config = {
    "vocab_size": 129280, "hidden_size": 4096, "moe_intermediate_size": 2048,
    "num_hidden_layers": 43, "num_attention_heads": 64, "head_dim": 512, "q_lora_rank": 1024,
    "num_experts_per_tok": 6, "n_routed_experts": 256, "n_shared_experts": 1,
    "scoring_func": "sqrtsoftplus", "routed_scaling_factor": 1.5,
    "max_position_embeddings": 1048576, "rope_theta": 10000.0, "layer_types": None,
    "compress_rates": None, "hc_mult": 4, "mlp_layer_types": None, "sliding_window": 128,
    "o_groups": 8, "o_lora_rank": 1024, "index_n_heads": 64, "index_head_dim": 128,
    "index_topk": 512, "hidden_act": "silu", "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False, "partial_rotary_factor": None, "mlp_bias": False,
}
V4_LAYERS = {"sliding_attention": "window_mqa", "compressed_sparse_attention": "compressed_sparse",
             "heavily_compressed_attention": "heavily_compressed"}
V4_RATIOS = {0: "sliding_attention", 4: "compressed_sparse_attention",
             128: "heavily_compressed_attention"}  # the legacy compress_ratios per layer
V4_SCORES = ("sqrtsoftplus", "softmax", "sigmoid")


def _v4_layer_types(c: Config, layers: int) -> list[str]:
    """layer_types, else the legacy compress_ratios (0, 4 or 128 per layer), else the class's
    default (two HCA layers, then CSA and HCA alternating); cut to num_hidden_layers (the
    checkpoints list their multi-token-prediction layers after)."""
    types = c["layer_types"]
    if types is None and c.get("compress_ratios") is not None:
        ratios = c["compress_ratios"]
        unknown = sorted({str(r) for r in ratios if r not in V4_RATIOS})
        if unknown:
            raise UnsupportedConfigError(f"deepseek_v4 compress_ratios has {', '.join(unknown)}; "
                                         f"its class maps 0, 4 and 128")
        types = [V4_RATIOS[r] for r in ratios]
    if types is None:
        types = (["heavily_compressed_attention"] * min(layers, 2)
                 + ["compressed_sparse_attention" if i % 2 else "heavily_compressed_attention"
                    for i in range(max(layers - 2, 0))])
    types = list(types)[:layers]
    unknown = sorted({str(t) for t in types} - set(V4_LAYERS))
    if len(types) != layers or unknown:
        raise UnsupportedConfigError(f"deepseek_v4 layer_types must give one of "
                                     f"{', '.join(V4_LAYERS)} for each of {layers} layers")
    return types


def _v4_rates(c: Config) -> dict[str, int]:
    """compress_rates over the class's (4 for CSA, 128 for HCA), the legacy compress_rate_csa
    and compress_rate_hca over both."""
    rates = {"compressed_sparse_attention": 4, "heavily_compressed_attention": 128,
             **(c["compress_rates"] or {})}
    for key, kind in (("compress_rate_csa", "compressed_sparse_attention"),
                      ("compress_rate_hca", "heavily_compressed_attention")):
        if c.get(key) is not None:
            rates[kind] = c[key]
    return rates


def read_deepseek_v4(c: Mapping[str, Any]) -> Config:
    """DeepSeek-V4's class (transformers 5.25): every layer's attention is one shared key =
    value head over a sliding window, queries through a latent, sinks and a grouped output
    projection (`zoo.accounting.compressed`), with a compressor on the CSA and HCA layers;
    hc_mult residual streams mixed by hyper-connections; every layer a mixture of experts with
    one shared expert of moe_intermediate_size (the class does not read n_shared_experts: any
    other value is refused by name), the first mlp_layer_types' hash_moe layers choosing their
    experts by token id (a buffer) but weighting them by the router as the others do. Its
    router always renormalises the chosen weights (norm_topk_prob is not read); the correction
    bias is a buffer. Not read, as no parameter depends on them: num_key_value_heads (one
    key/value head whatever it says), attention_bias and the rotary parameters of each kind of
    layer but the main base. mlp_bias (on the shared expert) is refused by name."""
    c = _with_defaults(c, V4_DEFAULTS)
    layers, d = get(c, "num_hidden_layers"), get(c, "hidden_size")
    if c["hidden_act"] != "silu":
        raise UnsupportedConfigError(f"hidden_act {c['hidden_act']!r}: zoo's gated MLP here "
                                     f"is SwiGLU (silu)")
    if c["mlp_bias"]:
        raise UnsupportedConfigError("deepseek_v4 with mlp_bias true (biases on the shared "
                                     "expert) is not supported")
    if c["n_shared_experts"] != 1:
        raise UnsupportedConfigError(f"deepseek_v4 n_shared_experts {c['n_shared_experts']}: "
                                     f"transformers' class builds one shared expert whatever "
                                     f"it says; only 1 is read")
    if c["scoring_func"] not in V4_SCORES:
        raise UnsupportedConfigError(f"deepseek_v4 scoring_func {c['scoring_func']!r}; its "
                                     f"class scores by {', '.join(V4_SCORES)}")
    mlp_types = c["mlp_layer_types"]
    if mlp_types is not None and not set(list(mlp_types)[:layers]) <= {"hash_moe", "moe"}:
        raise UnsupportedConfigError("deepseek_v4 mlp_layer_types must be hash_moe or moe")
    types = _v4_layer_types(c, layers)
    rates = _v4_rates(c)
    kinds = [V4_LAYERS[t] for t in types]
    head_dim = get(c, "head_dim")
    fraction = c["partial_rotary_factor"]
    if fraction is None:
        fraction = (c["qk_rope_head_dim"] / head_dim if c.get("qk_rope_head_dim") is not None
                    else 64 / 512)
    out: Config = dict(
        n_layer=layers, d_model=d, n_head=get(c, "num_attention_heads"), n_kv_head=1,
        d_head=head_dim, d_ff=get(c, "moe_intermediate_size"), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), position="rotary",
        rotary_fraction=fraction, rotary_style="interleaved",
        rope_theta=float(get(c, "rope_theta")), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        activation="swiglu", bias=False, tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=kinds, local_window=get(c, "sliding_window"),
        q_lora_rank=get(c, "q_lora_rank"), attention_sinks=True,
        output_groups=get(c, "o_groups"), output_rank=get(c, "o_lora_rank"),
        hyper_connections=get(c, "hc_mult"),
        n_experts=get(c, "n_routed_experts"), experts_per_token=get(c, "num_experts_per_tok"),
        d_ff_expert=get(c, "moe_intermediate_size"), n_shared_experts=1,
        router_scoring=c["scoring_func"], routing_bias=True, router_normalize=True,
        routed_scaling=float(get(c, "routed_scaling_factor")))
    if "compressed_sparse" in kinds:
        out.update(sparse_compress_rate=rates["compressed_sparse_attention"],
                   indexer_heads=get(c, "index_n_heads"),
                   indexer_head_dim=get(c, "index_head_dim"), indexer_topk=get(c, "index_topk"))
    if "heavily_compressed" in kinds:
        out["heavy_compress_rate"] = rates["heavily_compressed_attention"]
    out["notes"] = ["the hash_moe layers choose their experts by token id (tid2eid, a buffer); "
                    "gate and up are clamped at swiglu_limit; multi-token-prediction layers "
                    "are not built by transformers and not counted"]
    return counted_only(out, "DeepSeek-V4's compressed attention and hyper-connections are "
                             "counted, not built")


# --- GLM-4.5 ----------------------------------------------------------------------------------

# transformers' Glm4MoeConfig class defaults (5.25), for every key read below; head_dim (not a
# field: hidden_size / num_attention_heads when absent) and partial_rotary_factor (0.5 when
# absent) are defaulted where they are read
GLM4_MOE_DEFAULTS: Config = {
    "vocab_size": 151552, "hidden_size": 4096, "intermediate_size": 10944,
    "num_hidden_layers": 46, "num_attention_heads": 96, "num_key_value_heads": 8,
    "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False, "attention_bias": False, "moe_intermediate_size": 1408,
    "num_experts_per_tok": 8, "n_shared_experts": 1, "n_routed_experts": 128,
    "routed_scaling_factor": 1.0, "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1,
    "norm_topk_prob": True, "use_qk_norm": False,
}


def read_glm4_moe(c: Mapping[str, Any]) -> Config:
    """GLM-4.5's class: attention_bias puts biases on q, k and v but not on the output; the
    first partial_rotary_factor (0.5) of each head rotated, in halves; use_qk_norm an RMSNorm
    over each head of q and k; DeepSeek-V3's routing (sigmoid scores, selection-only bias,
    groups scored by their top two)."""
    c = _with_defaults(c, GLM4_MOE_DEFAULTS)
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    c = {**c, "head_dim": c.get("head_dim") or d // heads}
    rope = read_rope(c, 0.5)
    out = read_llama_like({k: v for k, v in c.items()
                           if k not in ("partial_rotary_factor", "rope_parameters")},
                          partial_rotary=True, qkv_bias=bool(c["attention_bias"]),
                          attn_out_bias=False, mlp_bias=False, **rope)
    return {**out, "qk_norm": "head" if c["use_qk_norm"] else "none",
            "n_experts": get(c, "n_routed_experts"),
            "experts_per_token": get(c, "num_experts_per_tok"),
            "d_ff_expert": get(c, "moe_intermediate_size"),
            "n_shared_experts": get(c, "n_shared_experts"),
            "first_dense_layers": get(c, "first_k_dense_replace"),
            "router_scoring": "sigmoid", "routing_bias": True,
            "router_normalize": bool(c["norm_topk_prob"]),
            "routed_scaling": float(get(c, "routed_scaling_factor")),
            "expert_groups": get(c, "n_group"), "expert_groups_per_token": get(c, "topk_group")}


def write_glm4_moe(s: ModelSpec) -> Config:
    if not s.moe or s.latent:
        raise UnsupportedConfigError("GLM-4.5 is a mixture of experts with grouped-query "
                                     "attention")
    if s.router_scoring != "sigmoid" or not s.routing_bias or s.expert_groups is None:
        raise UnsupportedConfigError("GLM-4.5 routes by sigmoid scores with a selection bias "
                                     "and expert groups")
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "use_qk_norm": s.qk_norm == "head", "n_routed_experts": s.n_experts,
            "num_experts_per_tok": s.experts_per_token, "moe_intermediate_size": s.expert_width,
            "n_shared_experts": s.n_shared_experts,
            "first_k_dense_replace": s.first_dense_layers, "norm_topk_prob": s.router_normalize,
            "routed_scaling_factor": s.routed_scaling, "n_group": s.expert_groups,
            "topk_group": s.expert_groups_per_token}


GLM4_MOE = {
    **OUTER, **ATTENTION, **QK_NORMS,
    **fused("blocks.{i}.mlp.fc_in", (f"{LAYER}.mlp.gate_proj", f"{LAYER}.mlp.up_proj"),
            "gate_up"),
    **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.down_proj"),
    **{k: v for k, v in LATENT.items() if k.startswith("blocks.{i}.mlp.")
       and not k.startswith(("blocks.{i}.mlp.fc_", ))},
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 146
ENTRIES = (
    Architecture(model_type="deepseek_v3", hf_class="DeepseekV3ForCausalLM",
                 read=read_deepseek_v3, write=write_deepseek_v3, prefix="model.",
                 tensors=LATENT, aliases=("kimi_k2",), ignore=("model.layers.{n_layer}.",)),
    Architecture(model_type="deepseek_v2", hf_class="DeepseekV2ForCausalLM",
                 read=read_deepseek_v2, write=write_deepseek_v2, prefix="model.",
                 tensors=LATENT),
    Architecture(model_type="deepseek_v32", hf_class="DeepseekV32ForCausalLM",
                 read=read_deepseek_v32, write=write_deepseek_v32, prefix="model.",
                 tensors={**LATENT, **INDEXER}, ignore=("model.layers.{n_layer}.",)),
    Architecture(model_type="glm4_moe", hf_class="Glm4MoeForCausalLM", read=read_glm4_moe,
                 write=write_glm4_moe, prefix="model.", tensors=GLM4_MOE,
                 ignore=("model.layers.{n_layer}.",)),
)
