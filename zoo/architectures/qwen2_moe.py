"""Alibaba's Qwen1.5-MoE and Qwen2-57B-A14B (qwen2_moe): Qwen2's attention (q, k, v biases
unless qkv_bias says otherwise), a mixture of softmax-routed experts beside one shared expert of
its own width whose output is scaled by sigmoid(a learned vector . x), and dense layers where
mlp_only_layers or decoder_sparse_step put them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    defaults_under,
    fused,
    get,
    linear,
    read_layer_types,
    same,
    write_layer_types,
)
from zoo.architectures.llama import read_llama_like, write_llama_like
from zoo.architectures.moe import (
    ATTENTION,
    DENSE_MLP,
    LAYER,
    OUTER,
    experts,
    read_sparse_layers,
    write_sparse_layers,
)
from zoo.spec import ModelSpec

# Qwen2MoeConfig's defaults for what read_qwen2_moe reads (its class has no head_dim: the
# attention takes the config's when it has one, else hidden_size / num_attention_heads)
DEFAULTS = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 5632,
            "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 16,
            "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "sliding_window": 4096,
            "max_window_layers": 28, "moe_intermediate_size": 1408,
            "shared_expert_intermediate_size": 5632, "num_experts_per_tok": 4,
            "num_experts": 60, "norm_topk_prob": False, "qkv_bias": True,
            "decoder_sparse_step": 1, "mlp_only_layers": []}


def _windows(c: Mapping[str, Any]) -> Config:
    """Sliding layers only with use_sliding_window: the layer_types given, else every other
    layer (the first, third, ...) below max_window_layers."""
    window = c["sliding_window"] if c.get("use_sliding_window") else None
    if not c.get("layer_types") and window is not None:
        c = {**c, "layer_types": [
            "sliding_attention" if (i + 1) % 2 and i < c["max_window_layers"]
            else "full_attention" for i in range(c["num_hidden_layers"])]}
    return read_layer_types(c, window)


def read_qwen2_moe(c: Mapping[str, Any]) -> Config:
    c = defaults_under(c, DEFAULTS)
    shared = get(c, "shared_expert_intermediate_size")
    if shared < 1:
        raise UnsupportedConfigError(f"shared_expert_intermediate_size {shared}: the shared "
                                     f"expert (and its gate) is always built; expected >= 1")
    bias = bool(c["qkv_bias"])
    return {**read_llama_like(c, qkv_bias=bias, attn_out_bias=False, mlp_bias=False,
                              n_experts=get(c, "num_experts"),
                              experts_per_token=get(c, "num_experts_per_tok"),
                              d_ff_expert=get(c, "moe_intermediate_size"),
                              n_shared_experts=1, d_ff_shared=shared, shared_expert_gate=True,
                              router_normalize=bool(c["norm_topk_prob"])),
            **_windows(c), **read_sparse_layers(c)}


def write_qwen2_moe(s: ModelSpec) -> Config:
    if not s.moe or s.n_shared_experts != 1 or not s.shared_expert_gate:
        raise UnsupportedConfigError("Qwen2-MoE has one gated shared expert beside the routed")
    return {**write_llama_like(s), "qkv_bias": s.has_bias("qkv"),
            "num_experts": s.n_experts, "num_experts_per_tok": s.experts_per_token,
            "moe_intermediate_size": s.expert_width, "shared_expert_intermediate_size":
                s.shared_width, "norm_topk_prob": s.router_normalize,
            "use_sliding_window": s.has_local, "sliding_window": s.local_window,
            "max_window_layers": s.n_layer, "layer_types": write_layer_types(s),
            **write_sparse_layers(s)}


MOE = f"{LAYER}.mlp"
TENSORS = {
    **OUTER, **ATTENTION, **DENSE_MLP,
    **experts(MOE, "gate_proj", "up_proj", "down_proj"),
    **fused("blocks.{i}.mlp.shared.fc_in", (f"{MOE}.shared_expert.gate_proj",
                                            f"{MOE}.shared_expert.up_proj"), "gate_up"),
    **linear("blocks.{i}.mlp.shared.fc_out", f"{MOE}.shared_expert.down_proj"),
    **same("blocks.{i}.mlp.shared_gate.weight", f"{MOE}.shared_expert_gate.weight"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 143
ENTRIES = (
    Architecture(model_type="qwen2_moe", hf_class="Qwen2MoeForCausalLM", read=read_qwen2_moe,
                 write=write_qwen2_moe, prefix="model.", tensors=TENSORS),
)
