"""Mixtures of experts: Mistral's Mixtral (mixtral), Alibaba's Qwen3-MoE (qwen3_moe), DeepSeek-V3
(deepseek_v3: latent attention, shared experts, sigmoid routing with a selection bias and expert
groups, dense first layers) and OpenAI's gpt-oss (gpt_oss: attention sinks, biases, clamped
SwiGLU, alternating sliding windows).

Hub checkpoints keep one tensor per expert (Mixtral's w1/w2/w3, DeepSeek's and Qwen's
gate/up/down_proj; transformers 5 fuses them in memory and writes them back per expert); zoo
stacks them. gpt-oss stores its experts fused, input-major, gate and up interleaved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    Source,
    UnsupportedConfigError,
    fused,
    get,
    linear,
    norm,
    read_layer_types,
    read_rope,
    same,
    shortest_period,
    write_layer_types,
    write_rope,
)
from zoo.architectures.llama import QK_NORMS, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
OUTER = {**same("embed.weight", "model.embed_tokens.weight"),
         **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
         **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
         **norm("final_norm", "model.norm"), **same("head.weight", "lm_head.weight")}
ATTENTION = {**fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj",
                                             f"{ATTN}.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj")}


# a dense layer's MLP beside the mixtures (Qwen's mlp_only_layers, DeepSeek's first layers)
DENSE_MLP = {**fused("blocks.{i}.mlp.fc_in", (f"{LAYER}.mlp.gate_proj", f"{LAYER}.mlp.up_proj"),
                     "gate_up"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.down_proj")}


def experts(moe: str, gate: str, up: str, down: str) -> dict[str, Source]:
    """A router `{moe}.gate` and per-expert gate/up/down matrices, as hub checkpoints keep
    them (`{e}` the expert)."""
    return {"blocks.{i}.mlp.router.weight": Source((f"{moe}.gate.weight",)),
            "blocks.{i}.mlp.experts.fc_in": Source((f"{moe}.experts.{{e}}.{gate}.weight",
                                                    f"{moe}.experts.{{e}}.{up}.weight"),
                                                   "experts_gate_up"),
            "blocks.{i}.mlp.experts.fc_out": Source((f"{moe}.experts.{{e}}.{down}.weight",),
                                                    "experts_stack")}


def _moe_fields(c: Mapping[str, Any], width_key: str) -> Config:
    """transformers spells the expert count num_local_experts in memory, and Qwen's configs
    num_experts; gpt-oss's old configs experts_per_token."""
    return {"n_experts": get(c, "num_local_experts", "num_experts"),
            "experts_per_token": get(c, "num_experts_per_tok", "experts_per_token"),
            "d_ff_expert": get(c, width_key)}


def _needs_moe(s: ModelSpec) -> None:
    if not s.moe:
        raise UnsupportedConfigError("not a mixture of experts")


def read_sparse_layers(c: Mapping[str, Any]) -> Config:
    """Qwen's MoE layer schedule: a layer is a mixture unless it is in mlp_only_layers, and
    only every decoder_sparse_step-th layer is (counted from 1); the others keep a dense MLP of
    intermediate_size. As mlp_pattern (its shortest period); nothing when every layer is."""
    step, dense = get(c, "decoder_sparse_step", default=1), get(c, "mlp_only_layers", default=[])
    if not isinstance(step, int) or step < 1:
        raise UnsupportedConfigError(f"decoder_sparse_step {step!r}: expected an integer >= 1")
    if get(c, "num_experts", default=1) < 1:
        raise UnsupportedConfigError("num_experts 0 (every layer dense) is not a mixture of "
                                     "experts")
    kinds = ["dense" if i in dense or (i + 1) % step else "moe"
             for i in range(get(c, "num_hidden_layers"))]
    return {} if "dense" not in kinds else {"mlp_pattern": shortest_period(kinds)}


def write_sparse_layers(s: ModelSpec) -> Config:
    """The schedule as mlp_only_layers (every dense layer named), decoder_sparse_step 1."""
    return {"decoder_sparse_step": 1,
            "mlp_only_layers": [i for i, moe in enumerate(s.layer_moe) if not moe]}


# --- Mixtral --------------------------------------------------------------------------------

# MixtralConfig's defaults for what read_mixtral reads (8 key/value heads, whatever the query
# heads; no sliding window)
MIXTRAL_DEFAULTS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
                    "num_hidden_layers": 32, "num_attention_heads": 32,
                    "num_key_value_heads": 8, "max_position_embeddings": 131072,
                    "rms_norm_eps": 1e-5, "num_experts_per_tok": 2, "num_local_experts": 8,
                    "rope_theta": 1e6}


def read_mixtral(c: Mapping[str, Any]) -> Config:
    c = {**MIXTRAL_DEFAULTS, **{k: v for k, v in c.items() if v is not None}}
    out = read_llama_like(c, qkv_bias=False, attn_out_bias=False, mlp_bias=False,
                          norm_eps=c["rms_norm_eps"],
                          **_moe_fields(c, "intermediate_size"))
    out.pop("d_ff_expert")  # Mixtral's experts are its MLP: d_ff
    if c.get("sliding_window") is not None:
        out.update(attention_pattern=["local"], local_window=c["sliding_window"])
    return out


def write_mixtral(s: ModelSpec) -> Config:
    _needs_moe(s)
    return {**write_llama_like(s), "num_local_experts": s.n_experts,
            "num_experts_per_tok": s.experts_per_token, "intermediate_size": s.expert_width,
            "sliding_window": s.local_window if s.has_local else None}


# --- Qwen3-MoE ------------------------------------------------------------------------------

# Qwen3MoeConfig's defaults for what read_qwen3_moe reads. Its class has no head_dim: the
# attention takes the config's when it has one, else hidden_size / num_attention_heads.
QWEN3_MOE_DEFAULTS = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144,
                      "num_hidden_layers": 24, "num_attention_heads": 32,
                      "num_key_value_heads": 4, "max_position_embeddings": 32768,
                      "rms_norm_eps": 1e-6, "moe_intermediate_size": 768,
                      "num_experts_per_tok": 8, "num_experts": 128}


def read_qwen3_moe(c: Mapping[str, Any]) -> Config:
    c = {**QWEN3_MOE_DEFAULTS, **{k: v for k, v in c.items() if v is not None}}
    out = read_llama_like(c, qk_norm="head", mlp_bias=False,
                          router_normalize=bool(c.get("norm_topk_prob", False)),
                          **_moe_fields(c, "moe_intermediate_size"))
    window = c.get("sliding_window", 4096) if c.get("use_sliding_window") else None
    return {**out, **read_layer_types(c, window), **read_sparse_layers(c)}


def write_qwen3_moe(s: ModelSpec) -> Config:
    _needs_moe(s)
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "num_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "moe_intermediate_size": s.expert_width, "norm_topk_prob": s.router_normalize,
            "use_sliding_window": s.has_local, "sliding_window": s.local_window,
            "layer_types": write_layer_types(s), **write_sparse_layers(s)}


# --- DeepSeek-V3 ----------------------------------------------------------------------------

def read_deepseek_v3(c: Mapping[str, Any]) -> Config:
    """DeepSeek-V3's class hard-codes what its config does not say: sigmoid scores with the
    selection bias, RMSNorm, SwiGLU, no biases; rope_interleave (default true) pairs adjacent
    dims."""
    c = {"rope_interleave": True, "q_lora_rank": 1536, **c}
    nope, rope = get(c, "qk_nope_head_dim"), get(c, "qk_rope_head_dim")
    heads = get(c, "num_attention_heads")
    return dict(
        n_layer=get(c, "num_hidden_layers"), d_model=get(c, "hidden_size"), n_head=heads,
        d_head=nope + rope, d_head_rope=rope, d_head_v=get(c, "v_head_dim"),
        kv_lora_rank=get(c, "kv_lora_rank"), q_lora_rank=c.get("q_lora_rank"),
        d_ff=get(c, "intermediate_size"), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), position="rotary",
        rotary_style="interleaved" if c["rope_interleave"] else "half",
        **{k: v for k, v in read_rope(c).items() if k != "rotary_fraction"},
        norm="rmsnorm", norm_eps=get(c, "rms_norm_eps", default=1e-6), activation="swiglu",
        bias=False, tie_embeddings=c.get("tie_word_embeddings", False),
        n_experts=get(c, "n_routed_experts"), experts_per_token=get(c, "num_experts_per_tok"),
        d_ff_expert=get(c, "moe_intermediate_size"),
        n_shared_experts=get(c, "n_shared_experts", default=0),
        first_dense_layers=get(c, "first_k_dense_replace", default=0),
        router_scoring="sigmoid", routing_bias=True,
        router_normalize=bool(c.get("norm_topk_prob", True)),
        routed_scaling=float(get(c, "routed_scaling_factor", default=1.0)),
        expert_groups=c.get("n_group", 8), expert_groups_per_token=c.get("topk_group", 4))


def write_deepseek_v3(s: ModelSpec) -> Config:
    _needs_moe(s)
    if not s.latent:
        raise UnsupportedConfigError("DeepSeek-V3's attention is latent")
    assert s.d_head_rope is not None and s.d_head_v is not None
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.n_head,
            "qk_nope_head_dim": s.head_dim - s.d_head_rope, "qk_rope_head_dim": s.d_head_rope,
            "v_head_dim": s.d_head_v, "kv_lora_rank": s.kv_lora_rank,
            "q_lora_rank": s.q_lora_rank, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "rms_norm_eps": s.norm_eps,
            "rope_interleave": s.rotary_style == "interleaved", **write_rope(s, {}),
            "n_routed_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "moe_intermediate_size": s.expert_width, "n_shared_experts": s.n_shared_experts,
            "first_k_dense_replace": s.first_dense_layers, "norm_topk_prob": s.router_normalize,
            "routed_scaling_factor": s.routed_scaling, "n_group": s.expert_groups or 1,
            "topk_group": s.expert_groups_per_token or 1}


DEEPSEEK_MOE = f"{LAYER}.mlp"
DEEPSEEK = {
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
    **experts(DEEPSEEK_MOE, "gate_proj", "up_proj", "down_proj"),
    **same("blocks.{i}.mlp.routing_bias", f"{DEEPSEEK_MOE}.gate.e_score_correction_bias"),
    **fused("blocks.{i}.mlp.shared.fc_in", (f"{DEEPSEEK_MOE}.shared_experts.gate_proj",
                                            f"{DEEPSEEK_MOE}.shared_experts.up_proj"), "gate_up"),
    **linear("blocks.{i}.mlp.shared.fc_out", f"{DEEPSEEK_MOE}.shared_experts.down_proj"),
    **norm("final_norm", "model.norm"),
    **same("head.weight", "lm_head.weight"),
}


# --- gpt-oss --------------------------------------------------------------------------------

def read_gpt_oss(c: Mapping[str, Any]) -> Config:
    """gpt-oss's class defaults what its config leaves out: YaRN (factor 32 over 4096,
    untruncated), sliding windows of 128 on even layers, the clamp at 7."""
    c = {"num_attention_heads": 64, "head_dim": 64, "num_key_value_heads": 8,
         "sliding_window": 128, "attention_bias": True, "rope_theta": 150000.0, **c}
    if not c.get("rope_parameters") and not c.get("rope_scaling"):
        c["rope_scaling"] = {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0,
                             "beta_slow": 1.0, "truncate": False,
                             "original_max_position_embeddings": 4096}
    if not c.get("layer_types"):
        c["layer_types"] = ["sliding_attention" if (i + 1) % 2 else "full_attention"
                            for i in range(get(c, "num_hidden_layers"))]
    if c.get("swiglu_alpha", 1.702) != 1.702:
        raise UnsupportedConfigError("gpt-oss with swiglu_alpha other than 1.702 is not "
                                     "supported")
    bias = bool(c["attention_bias"])
    out = read_llama_like(c, qkv_bias=bias, attn_out_bias=bias, mlp_bias=True,
                          norm_eps=c.get("rms_norm_eps", 1e-5), attention_sinks=True,
                          activation="clamped_swiglu",
                          swiglu_limit=float(c.get("swiglu_limit", 7.0)), router_bias=True,
                          **_moe_fields(c, "intermediate_size"))
    out.pop("d_ff_expert")  # gpt-oss's experts are its MLP: d_ff
    return {**out, **read_layer_types(c, c["sliding_window"])}


def write_gpt_oss(s: ModelSpec) -> Config:
    _needs_moe(s)
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "num_local_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "intermediate_size": s.expert_width, "swiglu_limit": s.swiglu_limit,
            "sliding_window": s.local_window, "layer_types": write_layer_types(s)}


GPT_OSS_MOE = f"{LAYER}.mlp"
GPT_OSS = {
    **OUTER, **ATTENTION,
    **same("blocks.{i}.attn.sinks", f"{ATTN}.sinks"),
    **linear("blocks.{i}.mlp.router", f"{GPT_OSS_MOE}.router"),
    "blocks.{i}.mlp.experts.fc_in": Source((f"{GPT_OSS_MOE}.experts.gate_up_proj",),
                                           "experts_interleaved"),
    "blocks.{i}.mlp.experts.fc_in_bias": Source((f"{GPT_OSS_MOE}.experts.gate_up_proj_bias",),
                                                "experts_interleaved"),
    "blocks.{i}.mlp.experts.fc_out": Source((f"{GPT_OSS_MOE}.experts.down_proj",),
                                            "experts_transpose"),
    **same("blocks.{i}.mlp.experts.fc_out_bias", f"{GPT_OSS_MOE}.experts.down_proj_bias"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 140
ENTRIES = (
    Architecture(model_type="mixtral", hf_class="MixtralForCausalLM", read=read_mixtral,
                 write=write_mixtral, prefix="model.",
                 tensors={**OUTER, **ATTENTION, **experts(f"{LAYER}.block_sparse_moe", "w1",
                                                          "w3", "w2")}),
    Architecture(model_type="qwen3_moe", hf_class="Qwen3MoeForCausalLM", read=read_qwen3_moe,
                 write=write_qwen3_moe, prefix="model.",
                 tensors={**OUTER, **ATTENTION, **QK_NORMS, **DENSE_MLP,
                          **experts(f"{LAYER}.mlp", "gate_proj", "up_proj", "down_proj")}),
    Architecture(model_type="deepseek_v3", hf_class="DeepseekV3ForCausalLM",
                 read=read_deepseek_v3, write=write_deepseek_v3, prefix="model.",
                 tensors=DEEPSEEK, ignore=("model.layers.{n_layer}.",)),
    Architecture(model_type="gpt_oss", hf_class="GptOssForCausalLM", read=read_gpt_oss,
                 write=write_gpt_oss, prefix="model.", tensors=GPT_OSS),
)
