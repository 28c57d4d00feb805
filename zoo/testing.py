"""transformers as the independent reference, and tiny models of every family to hold it to.

zoo never needs transformers to run; verification (`zoo verify --transformers`), the tests,
`tools/parity.py` and the benchmarks compare against it: its config object for a spec
(`transformers_config`), its own parameter count (`transformers_count`), a transformers model
with random weights (`hf_model`) and the same weights in zoo (`zoo_from_hf`). `FAMILIES` holds
the published architectures' switches at a size that runs in milliseconds.

transformers is a test dependency, never a runtime one: it is imported inside the functions
that use it, and by no other module of zoo.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor

from zoo.architectures import UnsupportedConfigError, write_config
from zoo.model import Model, create_model
from zoo.registry import get_spec
from zoo.spec import ModelSpec
from zoo.tokenizer import Tokenizer

SMALL = {"n_layer": 2, "d_model": 64, "n_head": 4, "d_ff": 256, "vocab_size": 97,
         "context_length": 64}

# family label -> (registry model whose switches it copies, overrides)
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai-gpt": ("openai-gpt", {}),
    "gpt2": ("gpt2", {}),
    "gpt-neo": ("gpt-neo-125m", {"local_window": 8}),
    "gpt-j": ("gpt-j-6b", {}),
    "gpt-neox": ("gpt-neox-20b", {}),
    "pythia": ("pythia-70m", {}),
    "gpt-bigcode": ("santacoder", {}),
    "opt": ("opt-125m", {}),
    "opt-350m": ("opt-350m", {"embed_dim": 32}),
    "bloom": ("bloom-560m", {}),
    "llama": ("llama-7b", {}),
    "llama-gqa": ("llama-2-70b", {"n_kv_head": 2}),
    "smollm2": ("smollm2-135m", {"n_kv_head": 2}),
    "mistral": ("mistral-7b-v0.1", {"n_kv_head": 2, "local_window": 8}),
    "falcon-7b": ("falcon-7b", {"n_kv_head": 1}),
    "falcon-40b": ("falcon-40b", {"n_head": 8, "n_kv_head": 2}),
    # the 2024-2026 families' switches, on LLaMA's base
    "llama3": ("llama-7b", {"n_kv_head": 2, "rope_theta": 500000.0, "rope_scaling": {
        "type": "llama3", "factor": 8.0, "original_context": 32, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0}}),
    "llama-yarn": ("llama-7b", {"n_kv_head": 2, "rope_scaling": {
        "type": "yarn", "factor": 4.0, "original_context": 16, "beta_fast": 32.0,
        "beta_slow": 1.0}}),
    "qwen2": ("llama-7b", {"n_kv_head": 2, "qkv_bias": True, "tie_embeddings": True}),
    "qwen3": ("llama-7b", {"n_kv_head": 2, "d_head": 32, "qk_norm": "head"}),
    "gemma": ("gemma-2b", {"d_head": 32}),
    "gemma2": ("llama-7b", {"n_kv_head": 2, "d_head": 32, "norm_position": "sandwich",
                            "norm_unit_offset": True, "scale_embeddings": True,
                            "activation": "geglu", "query_pre_attn_scalar": 24.0,
                            "attn_softcap": 2.0, "final_softcap": 3.0,
                            "attention_pattern": ["local", "global"], "local_window": 8,
                            "tie_embeddings": True}),
    "gemma3": ("llama-7b", {"n_layer": 3, "n_kv_head": 1, "d_head": 32, "qk_norm": "head",
                            "norm_position": "sandwich", "norm_unit_offset": True,
                            "scale_embeddings": True, "activation": "geglu",
                            "query_pre_attn_scalar": 24.0, "rope_theta": 1e6,
                            "local_rope_theta": 1e4,
                            "rope_scaling": {"type": "linear", "factor": 8.0},
                            "attention_pattern": ["local", "local", "global"],
                            "local_window": 8, "tie_embeddings": True}),
    "phi": ("phi-2", {"n_kv_head": 2}),
    "stablelm": ("stablelm-2-1.6b", {"n_kv_head": 2, "block": "parallel"}),
    "starcoder2": ("starcoder2-3b", {"n_kv_head": 2, "local_window": 8}),
    "phi3": ("llama-7b", {"n_kv_head": 2, "attention_pattern": ["local"], "local_window": 8,
                          "weights": {"model_type": "phi3"}}),
    # Phi-4-mini: partial rotary and longrope, short factors within 10 positions, long beyond
    # (the 20-token batches are long; 9-token prompts cross while generating)
    "phi3-longrope": ("phi-4-mini", {"n_kv_head": 2, "rope_scaling": {
        "type": "longrope", "factor": 6.4, "original_context": 10,
        "short_factor": [1.0, 1.1, 1.3, 1.2, 0.9, 1.5],
        "long_factor": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]}}),
    "olmo2": ("llama-7b", {"norm_fp32_scale": True, "n_kv_head": 2, "norm_position": "output",
                           "qk_norm": "projection"}),
    "olmo": ("olmo-7b", {"n_kv_head": 2, "qkv_clip": 0.5}),
    "smollm3": ("llama-7b", {"n_kv_head": 2, "rotary_pattern": [True, False],
                             "tie_embeddings": True}),
    "granite": ("granite-3.3-8b", {"n_kv_head": 2, "attention_multiplier": 0.0625,
                                   "logit_scale": 0.25}),
    "glm": ("glm-4-9b-chat", {}),
    "glm4": ("glm-4-9b-0414", {}),
    "ernie4.5": ("ernie-4.5-0.3b", {"bias": True}),
    "cohere": ("command-r-plus", {"n_kv_head": 2, "qkv_bias": True, "attn_out_bias": True}),
    "cohere2": ("command-r7b", {"n_layer": 4, "n_kv_head": 2, "local_window": 8}),
    # mixtures of experts and latent attention
    "mixtral": ("llama-7b", {"n_kv_head": 2, "n_experts": 4, "experts_per_token": 2,
                             "d_ff": 32, "rope_theta": 1e6}),
    "qwen3-moe": ("llama-7b", {"n_kv_head": 2, "d_head": 32, "qk_norm": "head",
                               "n_experts": 6, "experts_per_token": 2, "d_ff_expert": 24}),
    "qwen2-moe": ("llama-7b", {"n_kv_head": 2, "qkv_bias": True, "d_ff": 48, "n_experts": 4,
                               "experts_per_token": 2, "d_ff_expert": 16, "n_shared_experts": 1,
                               "d_ff_shared": 24, "shared_expert_gate": True,
                               "router_normalize": False, "mlp_pattern": ["dense", "moe"]}),
    "olmoe": ("llama-7b", {"qk_norm": "projection", "d_ff": 16, "n_experts": 4,
                           "experts_per_token": 2, "router_normalize": False}),
    "minimax-m2": ("llama-7b", {"n_kv_head": 2, "qk_norm": "projection", "rotary_fraction": 0.5,
                                "d_ff": 16, "n_experts": 4, "experts_per_token": 2,
                                "router_scoring": "sigmoid", "routing_bias": True}),
    "ernie-4.5-moe": ("llama-7b", {"n_layer": 3, "n_kv_head": 2, "rotary_style": "interleaved",
                                   "tie_embeddings": True, "d_ff": 48, "n_experts": 4,
                                   "experts_per_token": 2, "d_ff_expert": 16,
                                   "n_shared_experts": 2, "routing_bias": True,
                                   "routing_bias_parameter": True,
                                   "mlp_pattern": ["dense", "moe", "moe"]}),
    "granitemoe": ("llama-7b", {"n_kv_head": 2, "tie_embeddings": True, "d_ff": 16,
                                "n_experts": 4, "experts_per_token": 2,
                                "embedding_multiplier": 12.0, "residual_multiplier": 0.22,
                                "attention_multiplier": 0.125, "logit_scale": 0.25}),
    "granitemoeshared": ("llama-7b", {"n_kv_head": 2, "d_ff": 16, "n_experts": 4,
                                      "experts_per_token": 2, "n_shared_experts": 1,
                                      "d_ff_shared": 24, "embedding_multiplier": 12.0,
                                      "residual_multiplier": 0.22,
                                      "attention_multiplier": 0.125, "logit_scale": 0.25}),
    "deepseek-v3": ("llama-7b", {"n_layer": 3, "d_head": 24, "d_head_rope": 8, "d_head_v": 16,
                                 "kv_lora_rank": 32, "q_lora_rank": 48,
                                 "rotary_style": "interleaved", "rope_scaling": {
                                     "type": "yarn", "factor": 4.0, "original_context": 16,
                                     "mscale": 1.0, "mscale_all_dim": 1.0},
                                 "n_experts": 8, "experts_per_token": 2, "d_ff_expert": 16,
                                 "n_shared_experts": 1, "first_dense_layers": 1,
                                 "router_scoring": "sigmoid", "routing_bias": True,
                                 "routed_scaling": 2.5, "expert_groups": 4,
                                 "expert_groups_per_token": 2}),
    # DeepSeek-V2-Lite's queries without a latent, softmax routing limited to the groups with
    # the best single expert, weights scaled but not renormalised
    "deepseek-v2": ("deepseek-v2-lite", {"n_layer": 3, "d_head": 24, "d_head_rope": 8,
                                         "d_head_v": 16, "kv_lora_rank": 32,
                                         "rope_scaling": {
                                             "type": "yarn", "factor": 4.0,
                                             "original_context": 16, "mscale": 0.707,
                                             "mscale_all_dim": 0.707},
                                         "n_experts": 8, "experts_per_token": 2,
                                         "d_ff_expert": 16, "routed_scaling": 2.0,
                                         "expert_groups": 4, "expert_groups_per_token": 2,
                                         "expert_group_score": "max"}),
    # DeepSeek-V3.2: an indexer picks 8 of the keys each query attends to; 16 indexer heads, so
    # that no key scores 0 in every head after the ReLU (such ties at the cut make the choice
    # depend on the sequence's length, in transformers too)
    "deepseek-v32": ("deepseek-v3.2", {"n_layer": 3, "d_head": 24, "d_head_rope": 8,
                                       "d_head_v": 16, "kv_lora_rank": 32, "q_lora_rank": 48,
                                       "indexer_heads": 16, "indexer_head_dim": 16,
                                       "indexer_topk": 8, "rope_scaling": {
                                           "type": "yarn", "factor": 4.0,
                                           "original_context": 16, "mscale": 1.0,
                                           "mscale_all_dim": 1.0},
                                       "n_experts": 8, "experts_per_token": 2,
                                       "d_ff_expert": 16, "first_dense_layers": 1,
                                       "expert_groups": 4, "expert_groups_per_token": 2}),
    # GLM-4.5: q/k/v biases, half of each head rotated, per-head QK-norm, DeepSeek-V3's routing
    "glm4-moe": ("glm-4.5", {"n_layer": 3, "n_kv_head": 2, "d_head": 32, "n_experts": 8,
                             "experts_per_token": 2, "d_ff_expert": 16,
                             "first_dense_layers": 1, "expert_groups": 2,
                             "expert_groups_per_token": 1}),
    # Llama 4: chunks of 8 (so 20-token rows cross them), NoPE on every fourth layer, the
    # weight-free QK-norm, dense and MoE layers alternating (Maverick's interleaving) with a
    # shared expert and input-scaled routing. The temperature tuning's floor of 32 leaves
    # these rows' queries unscaled: transformers counts its positions in cache slots, so
    # left-padded rows would differ from zoo's token positions (tests/model/test_llama4.py
    # holds it to transformers on unpadded rows, at a floor of 2)
    "llama4": ("llama-4-scout-17b-16e", {
        "n_layer": 4, "n_kv_head": 2, "d_ff": 64, "n_experts": 4, "d_ff_expert": 32,
        "mlp_pattern": ["dense", "moe"], "attention_chunk": 8, "temperature_floor": 32,
        "rope_scaling": {"type": "llama3", "factor": 8.0, "original_context": 32,
                         "low_freq_factor": 1.0, "high_freq_factor": 4.0}}),
    # Gemma 4 (gemma4_text): the expert block beside the dense MLP, global layers of their
    # own width and kv heads without v_proj, two layers sharing keys and values (one
    # double-wide MLP each), per-layer inputs
    "gemma4": ("gemma-4-26b-a4b", {"n_layer": 4, "n_kv_head": 2, "d_head": 16,
                                   "global_d_head": 32, "global_kv_heads": 1,
                                   "attention_pattern": ["local", "global"], "local_window": 8,
                                   "d_ff": 64, "n_experts": 4, "experts_per_token": 2,
                                   "d_ff_expert": 32, "per_layer_embed_dim": 8,
                                   "kv_shared_layers": 2, "double_wide_shared_mlp": True}),
    "gpt-oss": ("llama-7b", {"norm_fp32_scale": True, "n_kv_head": 2, "d_head": 16,
                             "qkv_bias": True,
                             "attn_out_bias": True, "mlp_bias": True, "attention_sinks": True,
                             "activation": "clamped_swiglu", "swiglu_limit": 7.0,
                             "n_experts": 4, "experts_per_token": 2, "router_bias": True,
                             "d_ff": 32, "attention_pattern": ["local", "global"],
                             "local_window": 8, "rope_theta": 150000.0, "rope_scaling": {
                                 "type": "yarn", "factor": 32.0, "original_context": 16,
                                 "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False}}),
    # hybrid linear attention (Gated DeltaNet on three of four layers, gated full attention)
    "qwen3-next": ("qwen3-next-80b-a3b", {
        "n_layer": 4, "n_kv_head": 2, "d_head": 16, "d_ff": 32, "linear_n_k_head": 2,
        "linear_n_v_head": 4, "linear_d_head_k": 8, "linear_d_head_v": 8, "n_experts": 4,
        "experts_per_token": 2, "d_ff_expert": 16, "d_ff_shared": 16}),
    "qwen3.5": ("qwen3.5-27b", {
        "n_layer": 4, "n_kv_head": 2, "d_head": 16, "d_ff": 32, "linear_n_k_head": 2,
        "linear_n_v_head": 4, "linear_d_head_k": 8, "linear_d_head_v": 8}),
    "qwen3.5-moe": ("qwen3.5-35b-a3b", {
        "n_layer": 4, "d_head": 16, "d_ff": 16, "linear_n_k_head": 2, "linear_n_v_head": 4,
        "linear_d_head_k": 8, "linear_d_head_v": 8, "n_experts": 4, "experts_per_token": 2,
        "d_ff_shared": 16}),
    # OLMo 3: OLMo 2's norms, a sliding window, yarn on the full layers only
    "olmo3": ("llama-7b", {"norm_fp32_scale": True, "n_kv_head": 2, "norm_position": "output",
                           "qk_norm": "projection",
                           "attention_pattern": ["local", "global"], "local_window": 8,
                           "local_rope_theta": 10000.0, "rope_scaling": {
                               "type": "yarn", "factor": 4.0, "original_context": 16},
                           "weights": {"model_type": "olmo3"}}),
    # EXAONE 4: output norms, QK-norm per head, rotary on the sliding layers only (NoPE full)
    "exaone4": ("llama-7b", {"n_layer": 3, "n_kv_head": 2, "norm_position": "output",
                             "qk_norm": "head", "attention_pattern": ["local", "local", "global"],
                             "rotary_pattern": [True, True, False], "local_window": 8,
                             "weights": {"model_type": "exaone4"}}),
    # VaultGemma: Gemma 2 with pre-norms only (soft-caps, a window, query_pre_attn_scalar)
    "vaultgemma": ("llama-7b", {"n_kv_head": 2, "d_head": 32, "norm_unit_offset": True,
                                "scale_embeddings": True, "activation": "geglu",
                                "query_pre_attn_scalar": 24.0, "attn_softcap": 2.0,
                                "final_softcap": 3.0, "attention_pattern": ["local", "global"],
                                "local_window": 8, "tie_embeddings": True,
                                "weights": {"model_type": "vaultgemma"}}),
    # HyperCLOVA X: Granite's multipliers (logits multiplied) with norms around each sublayer
    "hyperclovax": ("granite-3.3-8b", {"n_kv_head": 2, "norm_position": "sandwich",
                                       "attention_multiplier": 0.0625,
                                       "embedding_multiplier": 12.0, "residual_multiplier": 0.22,
                                       "logit_scale": 4.0,
                                       "weights": {"model_type": "hyperclovax"}}),
    # Granite SWA: Granite's multipliers, sinks, sliding layers with a base of their own and a
    # layer without positions (layer_rope_theta 0)
    "granite-swa": ("granite-3.3-8b", {"n_layer": 4, "n_kv_head": 2, "attention_sinks": True,
                                       "attention_multiplier": 0.5, "logit_scale": 0.5,
                                       "attention_pattern": ["global", "local"],
                                       "local_window": 8, "local_rope_theta": 1000.0,
                                       "rotary_pattern": [True, True, False, True],
                                       "weights": {"model_type": "granite_swa"}}),
    "granitemoe-swa": ("llama-7b", {"n_kv_head": 2, "d_ff": 16, "n_experts": 4,
                                    "experts_per_token": 2, "embedding_multiplier": 12.0,
                                    "residual_multiplier": 0.22, "attention_multiplier": 0.5,
                                    "logit_scale": 0.5, "attention_sinks": True,
                                    "attention_pattern": ["global", "local"], "local_window": 8,
                                    "local_rope_theta": 1000.0, "rotary_pattern": [False, True],
                                    "weights": {"model_type": "granitemoe_swa"}}),
    # LLaMA's kin: each a class of its own (weights.model_type picks it)
    "seed-oss": ("llama-7b", {"n_kv_head": 2, "d_head": 32, "qkv_bias": False,
                              "attn_out_bias": True, "mlp_bias": True,
                              "weights": {"model_type": "seed_oss"}}),
    "helium": ("llama-7b", {"n_kv_head": 2, "rotary_style": "interleaved", "qkv_bias": True,
                            "attn_out_bias": False, "mlp_bias": True, "norm_fp32_scale": True,
                            "norm_eps": 1e-8, "weights": {"model_type": "helium"}}),
    "cwm": ("llama-7b", {"n_layer": 3, "n_kv_head": 2, "mlp_bias": True,
                         "attention_pattern": ["global", "local", "local"], "local_window": 8,
                         "rope_theta": 1e6, "rope_scaling": {
                             "type": "llama3", "factor": 16.0, "original_context": 32,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0},
                         "weights": {"model_type": "cwm"}}),
    "ministral3": ("llama-7b", {"n_kv_head": 2, "d_head": 32, "local_window": 8,
                                "attention_pattern": ["local"], "rope_theta": 1e6,
                                "rope_scaling": {"type": "yarn", "factor": 16.0,
                                                 "original_context": 4, "beta_fast": 32.0,
                                                 "beta_slow": 1.0, "mscale": 1.0,
                                                 "mscale_all_dim": 1.0},
                                "temperature_floor": 4, "temperature_scale": 0.1,
                                "temperature_form": "all_layers",
                                "weights": {"model_type": "ministral3"}}),
    "arcee": ("llama-7b", {"n_kv_head": 2, "activation": "relu2", "qkv_bias": True,
                           "attn_out_bias": True, "mlp_bias": True,
                           "weights": {"model_type": "arcee"}}),
    "jais2": ("llama-7b", {"n_kv_head": 2, "norm": "layernorm", "norm_eps": 1e-5,
                           "activation": "relu2", "bias": True,
                           "weights": {"model_type": "jais2"}}),
    "persimmon": ("llama-7b", {"norm": "layernorm", "norm_eps": 1e-5, "activation": "relu2",
                               "bias": True, "qk_norm": "head_layernorm",
                               "rotary_fraction": 0.5, "weights": {"model_type": "persimmon"}}),
    # fairseq's decoders: embeddings times sqrt(d_model), positions counted from 2
    "xglm": ("opt-125m", {"position": "sinusoidal", "activation": "gelu",
                          "embedding_multiplier": 8.0, "weights": {"model_type": "xglm"}}),
    "biogpt": ("opt-125m", {"activation": "gelu", "embedding_multiplier": 8.0,
                            "weights": {"model_type": "biogpt"}}),
    "ctrl": ("gpt2", {"position": "sinusoidal", "sinusoid_style": "vaswani",
                      "embedding_multiplier": 8.0, "activation": "relu", "norm_eps": 1e-6,
                      "head_bias": True, "weights": {"model_type": "ctrl"}}),
    # six heads: ALiBi's slopes past a power of two; q, k, v clipped, a score scale of its own
    "mpt": ("bloom-560m", {"d_model": 48, "n_head": 6, "d_ff": 192, "embedding_norm": False,
                           "norm_bias": False, "bias": False, "activation": "gelu",
                           "qkv_clip": 0.5, "attention_multiplier": 0.3,
                           "weights": {"model_type": "mpt"}}),
    # two heads in each of qkv_proj's four model-parallel groups
    "codegen": ("gpt-j-6b", {"n_head": 8, "weights": {"model_type": "codegen"}}),
    # a bias on the last layer's attention output alone
    "gpt-neox-japanese": ("gpt-neox-20b", {"block": "sequential", "bias": False,
                                           "last_attn_out_bias": True, "tie_embeddings": True,
                                           "activation": "gelu",
                                           "weights": {"model_type": "gpt_neox_japanese"}}),
    # Mellum 2: Qwen3-MoE's layer, sliding layers with a base of their own, a dense layer
    "mellum": ("llama-7b", {"n_layer": 3, "n_kv_head": 2, "d_head": 32, "qk_norm": "head",
                            "d_ff": 48, "n_experts": 6, "experts_per_token": 2,
                            "d_ff_expert": 24, "mlp_pattern": ["moe", "dense", "moe"],
                            "attention_pattern": ["local", "local", "global"],
                            "local_window": 8, "local_rope_theta": 1000.0,
                            "rope_theta": 500000.0, "weights": {"model_type": "mellum"}}),
    # FlexOlmo: OLMoE's attention and experts under OLMo 2's output norms; biases, a head_dim
    # apart from d_model / heads (the q and k norms as wide as the heads)
    "flex-olmo": ("llama-7b", {"n_kv_head": 2, "d_head": 24, "qk_norm": "projection",
                               "norm_position": "output", "norm_fp32_scale": True,
                               "qkv_bias": True, "attn_out_bias": True, "d_ff": 16,
                               "n_experts": 4, "experts_per_token": 2,
                               "weights": {"model_type": "flex_olmo"}}),
    # Command A's MoE: Command R7B's parallel block, a dense first layer rotated though full, a
    # full MoE layer without positions, softmax over the top-k logits, a shared expert
    # averaged with the routed ones; then RMSNorm, sigmoid routing renormalised, summed
    "cohere2-moe": ("command-r7b", {"n_layer": 4, "n_kv_head": 2, "local_window": 8,
                                    "attention_pattern": ["global", "local"],
                                    "rotary_pattern": [True, True, False, True], "d_ff": 32,
                                    "n_experts": 4, "experts_per_token": 2, "d_ff_expert": 16,
                                    "first_dense_layers": 1, "n_shared_experts": 1,
                                    "shared_expert_average": True,
                                    "weights": {"model_type": "cohere2_moe"}}),
    "cohere2-moe-rms": ("command-r7b", {"n_layer": 3, "n_kv_head": 2, "local_window": 8,
                                        "norm": "rmsnorm", "norm_bias": True,
                                        "attention_pattern": ["local", "local", "global"],
                                        "rotary_pattern": [True, True, False], "d_ff": 16,
                                        "n_experts": 4,
                                        "experts_per_token": 2, "d_ff_expert": 16,
                                        "router_scoring": "sigmoid", "n_shared_experts": 2,
                                        "weights": {"model_type": "cohere2_moe"}}),
    # K-EXAONE: EXAONE 4's hybrid attention (NoPE full layers) in a pre-norm block, a dense
    # first layer, DeepSeek-V3's grouped sigmoid routing with a shared expert
    "exaone-moe": ("llama-7b", {"n_layer": 4, "n_kv_head": 2, "qk_norm": "head",
                                "attention_pattern": ["local", "global"],
                                "rotary_pattern": [True, False], "local_window": 8,
                                "d_ff": 32, "n_experts": 8, "experts_per_token": 2,
                                "d_ff_expert": 16, "n_shared_experts": 1,
                                "first_dense_layers": 1, "router_scoring": "sigmoid",
                                "routing_bias": True, "routed_scaling": 2.5,
                                "expert_groups": 4, "expert_groups_per_token": 2,
                                "weights": {"model_type": "exaone_moe"}}),
    # MiniCPM5-MoE: gated attention with biases everywhere before DeepSeek-V3's routing
    "minicpm5-moe": ("llama-7b", {"n_layer": 3, "n_kv_head": 2, "attention_output_gate": True,
                                  "qkv_bias": True, "attn_out_bias": True, "d_ff": 32,
                                  "n_experts": 8, "experts_per_token": 2, "d_ff_expert": 16,
                                  "n_shared_experts": 1, "first_dense_layers": 1,
                                  "router_scoring": "sigmoid", "routing_bias": True,
                                  "routed_scaling": 3.66, "expert_groups": 2,
                                  "expert_groups_per_token": 1, "rope_theta": 5e6,
                                  "weights": {"model_type": "minicpm5_moe"}}),
    # Solar Open: q, k, v biases, every layer a mixture, two shared experts, unnormalised
    "solar-open": ("llama-7b", {"n_kv_head": 2, "d_head": 32, "qkv_bias": True, "d_ff": 16,
                                "n_experts": 8, "experts_per_token": 2, "d_ff_expert": 16,
                                "n_shared_experts": 2, "router_scoring": "sigmoid",
                                "routing_bias": True, "router_normalize": False,
                                "expert_groups": 4, "expert_groups_per_token": 2,
                                "rope_theta": 1e6, "weights": {"model_type": "solar_open"}}),
    # Phi-3.5-MoE: LayerNorms with a bias, biases on the attention and the head, a window,
    # sparsemixer's two experts; a threshold of 0.2 so that some tokens' softmaxes take in
    # more than their chosen expert
    "phimoe": ("llama-7b", {"norm": "layernorm", "norm_eps": 1e-5, "qkv_bias": True,
                            "attn_out_bias": True, "head_bias": True, "n_kv_head": 2,
                            "local_window": 8, "attention_pattern": ["local"], "d_ff": 32,
                            "n_experts": 4, "experts_per_token": 2,
                            "router_scoring": "sparsemixer", "router_jitter": 0.2,
                            "weights": {"model_type": "phimoe"}}),
    # weightless norms (the embedding's too), rotary turned the other way, then QK-norm
    "nanochat": ("llama-7b", {"n_kv_head": 2, "norm": "weightless_rmsnorm",
                              "embedding_norm": True, "qk_norm": "l2",
                              "rotary_style": "half_reversed", "activation": "relu2",
                              "qkv_bias": True, "attn_out_bias": True, "final_softcap": 3.0,
                              "weights": {"model_type": "nanochat"}}),
    # xIELU's scalars per layer, QK-norm per head, Llama 3.1's rope scaling
    "apertus": ("llama-7b", {"n_kv_head": 2, "activation": "xielu", "qk_norm": "head",
                             "qkv_bias": True, "attn_out_bias": True, "mlp_bias": False,
                             "rope_scaling": {"type": "llama3", "factor": 8.0,
                                              "original_context": 16, "low_freq_factor": 1.0,
                                              "high_freq_factor": 4.0},
                             "weights": {"model_type": "apertus"}}),
    # latent attention before a dense MLP with biases; MiniCPM's embedding, residual and
    # logit scales; longrope's long factors past 10 positions (as phi3-longrope)
    "minicpm3": ("llama-7b", {"n_layer": 3, "d_head": 24, "d_head_rope": 8, "d_head_v": 16,
                              "kv_lora_rank": 32, "q_lora_rank": 48, "norm_eps": 1e-5,
                              "latent_norm_eps": 1e-6, "mlp_bias": True,
                              "tie_embeddings": True, "embedding_multiplier": 12.0,
                              "residual_multiplier": 0.7, "logit_scale": 0.25,
                              "rope_scaling": {"type": "longrope", "factor": 4.0,
                                               "original_context": 10,
                                               "short_factor": [1.0, 1.1, 1.3, 1.6],
                                               "long_factor": [1.0, 2.0, 4.0, 8.0]},
                              "weights": {"model_type": "minicpm3"}}),
    "youtu": ("llama-7b", {"n_layer": 3, "d_head": 24, "d_head_rope": 8, "d_head_v": 16,
                           "kv_lora_rank": 32, "q_lora_rank": 48, "norm_eps": 1e-5,
                           "latent_norm_eps": 1e-6, "rotary_style": "interleaved",
                           "tie_embeddings": True, "weights": {"model_type": "youtu"}}),
    # DeepSeek-V3's layer, its latents at epsilon 1e-6 beside the norms' 1e-5
    "glm4-moe-lite": ("llama-7b", {"n_layer": 3, "d_head": 24, "d_head_rope": 8,
                                   "d_head_v": 16, "kv_lora_rank": 32, "q_lora_rank": 48,
                                   "norm_eps": 1e-5, "latent_norm_eps": 1e-6,
                                   "rotary_style": "interleaved", "n_experts": 8,
                                   "experts_per_token": 2, "d_ff_expert": 16,
                                   "n_shared_experts": 1, "first_dense_layers": 1,
                                   "router_scoring": "sigmoid", "routing_bias": True,
                                   "routed_scaling": 1.8, "expert_groups": 4,
                                   "expert_groups_per_token": 2,
                                   "weights": {"model_type": "glm4_moe_lite"}}),
    # differential attention over grouped kv heads, with biases
    "diffllama": ("llama-7b", {"n_kv_head": 2, "differential_attention": True,
                               "qkv_bias": True, "attn_out_bias": True, "mlp_bias": False,
                               "weights": {"model_type": "diffllama"}}),
    # Mamba-2: state-space mixers only (4 heads of 16 in 2 groups, biases on), no MLP; the
    # 20-token test prompts span one scan chunk
    "mamba2": ("llama-7b", {"n_layer": 2, "d_model": 32, "n_head": 1, "d_ff": 1,
                            "context_length": 1 << 20, "position": "none", "activation": "gelu",
                            "attention_pattern": ["mamba2"], "mlp_pattern": ["none"],
                            "ssm_d_inner": 64, "ssm_d_state": 8, "ssm_conv_kernel": 4,
                            "ssm_n_head": 4, "ssm_n_group": 2, "ssm_proj_bias": True,
                            "tie_embeddings": False, "weights": {"model_type": "mamba2"}}),
    # Bamba: Mamba-2 layers beside Llama's attention (half of each head rotated), gated MLPs,
    # every bias on
    "bamba": ("llama-7b", {"n_kv_head": 2, "d_ff": 64, "rotary_fraction": 0.5,
                           "attention_pattern": ["mamba2", "global"], "qkv_bias": True,
                           "attn_out_bias": True, "mlp_bias": True, "ssm_d_inner": 128,
                           "ssm_d_state": 8, "ssm_conv_kernel": 4, "ssm_n_head": 4,
                           "ssm_n_group": 2, "ssm_proj_bias": True,
                           "weights": {"model_type": "bamba"}}),
    # Mamba: the selective scan per channel (a step of rank 4), biases on, head tied;
    # Falcon-Mamba adds weightless norms of the step, B and C
    "mamba": ("llama-7b", {"d_model": 32, "n_head": 1, "d_ff": 1, "context_length": 1 << 20,
                           "position": "none", "activation": "gelu",
                           "attention_pattern": ["mamba"], "mlp_pattern": ["none"],
                           "ssm_d_inner": 64, "ssm_d_state": 8, "ssm_conv_kernel": 4,
                           "ssm_dt_rank": 4, "ssm_proj_bias": True, "tie_embeddings": True,
                           "weights": {"model_type": "mamba"}}),
    "falcon-mamba": ("llama-7b", {"d_model": 32, "n_head": 1, "d_ff": 1,
                                  "context_length": 1 << 20, "position": "none",
                                  "activation": "gelu", "attention_pattern": ["mamba"],
                                  "mlp_pattern": ["none"], "ssm_d_inner": 64, "ssm_d_state": 8,
                                  "ssm_conv_kernel": 4, "ssm_dt_rank": 4,
                                  "ssm_inner_norm_eps": 1e-6, "tie_embeddings": False,
                                  "weights": {"model_type": "falcon_mamba"}}),
    # Granite 4 hybrids: Bamba's layers with Granite's multipliers, experts beside a shared
    # MLP and rotary (granite-4.0-h-tiny's switches); the dense one with no positions (h-micro)
    "granitemoehybrid": ("llama-7b", {
        "n_kv_head": 2, "d_ff": 16, "n_experts": 4, "experts_per_token": 2,
        "n_shared_experts": 1, "d_ff_shared": 24, "embedding_multiplier": 12.0,
        "residual_multiplier": 0.22, "attention_multiplier": 0.125, "logit_scale": 0.25,
        "attention_pattern": ["mamba2", "global"], "ssm_d_inner": 128, "ssm_d_state": 8,
        "ssm_conv_kernel": 4, "ssm_n_head": 4, "ssm_n_group": 2,
        "weights": {"model_type": "granitemoehybrid"}}),
    "granitemoehybrid-dense": ("llama-7b", {
        "n_kv_head": 2, "d_ff": 48, "position": "none", "embedding_multiplier": 12.0,
        "residual_multiplier": 0.22, "attention_multiplier": 0.125, "logit_scale": 0.25,
        "attention_pattern": ["global", "mamba2"], "ssm_d_inner": 128, "ssm_d_state": 8,
        "ssm_conv_kernel": 4, "ssm_n_head": 4, "ssm_n_group": 1,
        "weights": {"model_type": "granitemoehybrid"}}),
    # Nemotron-H: blocks of one norm and one of a Mamba-2 mixer, experts (sigmoid-routed,
    # squared ReLU, beside a shared MLP), attention without positions and a squared-ReLU MLP
    "nemotron-h": ("llama-7b", {
        "n_layer": 4, "n_kv_head": 2, "d_ff": 48, "position": "none", "activation": "relu2",
        "norm_fp32_scale": True, "bias": False,
        "attention_pattern": ["mamba2", "none", "global", "none"],
        "mlp_pattern": ["none", "moe", "none", "dense"], "n_experts": 4,
        "experts_per_token": 2, "d_ff_expert": 16, "n_shared_experts": 1, "d_ff_shared": 24,
        "router_scoring": "sigmoid", "routing_bias": True, "routed_scaling": 2.5,
        "ssm_d_inner": 64, "ssm_d_state": 8, "ssm_conv_kernel": 4, "ssm_n_head": 4,
        "ssm_n_group": 2, "ssm_proj_bias": True, "tie_embeddings": False,
        "weights": {"model_type": "nemotron_h"}}),
    # Jamba: Mamba layers with weighted norms of the step, B and C beside attention without
    # positions (every other layer), experts (softmax top-k, not renormalised) on layers 1 and
    # 3, a gated SiLU MLP elsewhere, biases on the mixers, head tied
    "jamba": ("llama-7b", {
        "n_layer": 4, "n_kv_head": 2, "d_ff": 48, "position": "none", "activation": "swiglu",
        "bias": False, "attention_pattern": ["mamba", "global"], "mlp_pattern": ["dense", "moe"],
        "n_experts": 4, "experts_per_token": 2, "router_normalize": False,
        "ssm_d_inner": 64, "ssm_d_state": 8, "ssm_conv_kernel": 4, "ssm_dt_rank": 4,
        "ssm_inner_norms": True, "ssm_proj_bias": True, "tie_embeddings": True,
        "weights": {"model_type": "jamba"}}),
}


def transformers_config(spec: ModelSpec) -> Any:
    """`write_config` as transformers' own config object."""
    import transformers

    config = write_config(spec)
    return transformers.CONFIG_MAPPING[config.pop("model_type")](**config)


def transformers_count(spec: ModelSpec) -> int | None:
    """What transformers counts for this spec, built on the meta device; None when no
    transformers class has these parameters. Local attention is parameter-free, so a pattern
    no class expresses (GPT-3's banded layers) is counted as the all-dense model it otherwise
    is."""
    import transformers

    def dense() -> ModelSpec:
        return spec.with_changes(attention_pattern=["global"], local_window=None,
                                 local_rope_theta=None)

    for candidate in (lambda: spec, dense):
        try:
            hf_config = transformers_config(candidate())
        except UnsupportedConfigError:
            continue
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(hf_config)
        return sum(p.numel() for p in model.parameters())
    return None


def tiny_spec(label: str) -> ModelSpec:
    """A registry model's switches at the SMALL size."""
    source, overrides = FAMILIES[label]
    return get_spec(source).with_changes(**{"name": f"tiny-{label}", "aliases": [],
                                            "d_head": None, **SMALL, **overrides})


def byte_tokenizer() -> Tokenizer:
    """One token per byte (ids 0-255, no merges, no special tokens): any text, for tiny models
    of 256 tokens or more."""
    from tokenizers import Tokenizer as Backend
    from tokenizers import decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Backend(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return Tokenizer(backend)


def hf_model(spec: ModelSpec, seed: int = 0) -> Any:
    """A transformers model for `spec` with every parameter random (norms and biases too), and
    every float buffer its checkpoint stores (DeepSeek's routing bias, e_score_correction_bias,
    which transformers initialises to zeros: a zero bias would leave its path untested)."""
    import transformers

    hf_config = transformers_config(spec)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(hf_config, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    stored = model.state_dict()
    with torch.no_grad():
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=generator)
            if p.dim() == 1:
                p.add_(0.1 * noise)
            else:
                p.copy_(0.05 * noise)
        for name, b in model.named_buffers():
            if name in stored and b.is_floating_point():
                b.add_(0.1 * torch.randn(b.shape, generator=generator))
    return model.eval()


def zoo_from_hf(spec: ModelSpec, hf: Any) -> Model:
    """A zoo model holding a transformers model's weights, through the checkpoint transformers
    writes (per-expert tensors, as on the hub, where its memory holds them fused) and the
    import that real checkpoints take."""
    import tempfile

    from zoo.checkpoints.hf import from_hf

    with tempfile.TemporaryDirectory() as folder:
        hf.save_pretrained(folder)
        model = from_hf(folder)
        loaded = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    fresh = create_model(spec)  # the test's own spec (from_hf may name the registry's)
    fresh.load_state_dict(loaded, strict=True)
    return fresh.eval()


def batch(vocab: int, seed: int = 1) -> tuple[Tensor, Tensor]:
    """Three rows of 20 ids, and a right-padding mask (13 and 7 real tokens in rows 1, 2)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (3, 20), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 13:] = 0
    mask[2, 7:] = 0
    return ids, mask


def left_pad(ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """The same real tokens, moved to the right end of each row (left padding)."""
    left, left_ids = torch.zeros_like(mask), torch.zeros_like(ids)
    for row in range(ids.shape[0]):
        n = int(mask[row].sum())
        left[row, -n:], left_ids[row, -n:] = 1, ids[row, :n]
    return left_ids, left


def hf_positions_kwargs(hf: Any, mask: Tensor) -> dict[str, Tensor]:
    """Left padding needs positions counted from the first real token; pass them where the
    transformers model takes them (BLOOM derives ALiBi from the mask itself)."""
    if "position_ids" in inspect.signature(hf.forward).parameters:
        return {"position_ids": (mask.cumsum(-1) - 1).clamp(min=0)}
    return {}


def parity(model: Model, hf: Any, vocab: int) -> dict[str, float]:
    """Max abs logit difference without padding, with right and with left padding (real
    positions only), and the loss difference."""
    ids, mask = batch(vocab)
    left_ids, left = left_pad(ids, mask)
    with torch.no_grad():
        plain = (model(ids) - hf(ids).logits).abs().max()
        real = mask.bool()
        right = (model(ids, attention_mask=mask)[real]
                 - hf(ids, attention_mask=mask).logits[real]).abs().max()
        real = left.bool()
        theirs = hf(left_ids, attention_mask=left, **hf_positions_kwargs(hf, left)).logits
        left_diff = (model(left_ids, attention_mask=left)[real] - theirs[real]).abs().max()
        loss = (model.loss(ids) - hf(ids, labels=ids).loss).abs()
    return {"no padding": float(plain), "right padding": float(right),
            "left padding": float(left_diff), "loss": float(loss)}
