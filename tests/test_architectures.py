"""The architecture table: published config.json files (legacy keys included) read as the
registry's specs, and every spec written back exactly."""

from __future__ import annotations

import pytest

import zoo
from tests.tiny import FAMILIES, tiny_spec
from zoo.architectures import (
    ARCHITECTURES,
    FAMILY_MODULES,
    UnsupportedConfigError,
    spec_from_config,
    write_config,
)
from zoo.spec import ModelSpec, SpecError, architecture_key

# Abridged from the published config.json files, in their original (pre-v5) spelling.
PUBLISHED = {
    "gpt2": {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_ctx": 1024,
             "n_positions": 1024, "vocab_size": 50257, "activation_function": "gelu_new",
             "layer_norm_epsilon": 1e-05},
    "openai-gpt": {"model_type": "openai-gpt", "afn": "gelu", "n_embd": 768, "n_layer": 12,
                   "n_head": 12, "n_positions": 512, "vocab_size": 40478,
                   "layer_norm_epsilon": 1e-05},
    "bloom-560m": {"model_type": "bloom", "n_embed": 1024, "n_layer": 24,
                   "num_attention_heads": 16, "vocab_size": 250880,
                   "layer_norm_epsilon": 1e-05, "seq_length": 2048},
    "opt-350m": {"model_type": "opt", "hidden_size": 1024, "num_hidden_layers": 24,
                 "num_attention_heads": 16, "ffn_dim": 4096, "max_position_embeddings": 2048,
                 "do_layer_norm_before": False, "word_embed_proj_dim": 512,
                 "vocab_size": 50272, "activation_function": "relu"},
    "gpt-neo-125m": {"model_type": "gpt_neo", "hidden_size": 768, "num_layers": 12,
                     "num_heads": 12, "attention_types": [[["global", "local"], 6]],
                     "window_size": 256, "max_position_embeddings": 2048, "vocab_size": 50257,
                     "activation_function": "gelu_new", "intermediate_size": None},
    "gpt-j-6b": {"model_type": "gptj", "n_embd": 4096, "n_layer": 28, "n_head": 16,
                 "rotary_dim": 64, "n_positions": 2048, "vocab_size": 50400,
                 "activation_function": "gelu_new", "tie_word_embeddings": False},
    "pythia-70m": {"model_type": "gpt_neox", "hidden_size": 512, "num_hidden_layers": 6,
                   "num_attention_heads": 8, "intermediate_size": 2048, "rotary_pct": 0.25,
                   "rotary_emb_base": 10000, "max_position_embeddings": 2048,
                   "vocab_size": 50304, "use_parallel_residual": True, "hidden_act": "gelu",
                   "layer_norm_eps": 1e-05, "tie_word_embeddings": False},
    "llama-2-70b": {"model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
                    "num_hidden_layers": 80, "num_attention_heads": 64,
                    "num_key_value_heads": 8, "max_position_embeddings": 4096,
                    "rms_norm_eps": 1e-05, "vocab_size": 32000, "hidden_act": "silu"},
    "mistral-7b-v0.1": {"model_type": "mistral", "hidden_size": 4096,
                        "intermediate_size": 14336, "num_hidden_layers": 32,
                        "num_attention_heads": 32, "num_key_value_heads": 8,
                        "max_position_embeddings": 32768, "sliding_window": 4096,
                        "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "vocab_size": 32000},
    "falcon-7b": {"model_type": "falcon", "hidden_size": 4544, "n_head": 71,
                  "n_layer": 32, "multi_query": True, "parallel_attn": True, "bias": False,
                  "alibi": False, "vocab_size": 65024, "new_decoder_architecture": False},
    "falcon-40b": {"model_type": "RefinedWeb", "hidden_size": 8192, "n_head": 128,
                   "n_head_kv": 8, "n_layer": 60, "parallel_attn": True, "bias": False,
                   "alibi": False, "vocab_size": 65024},
    "qwen1.5-moe-a2.7b": {"model_type": "qwen2_moe", "decoder_sparse_step": 1,
                          "hidden_size": 2048, "intermediate_size": 5632,
                          "max_position_embeddings": 8192, "max_window_layers": 21,
                          "moe_intermediate_size": 1408, "norm_topk_prob": False,
                          "num_attention_heads": 16, "num_experts": 60,
                          "num_experts_per_tok": 4, "num_hidden_layers": 24,
                          "num_key_value_heads": 16, "rms_norm_eps": 1e-06,
                          "rope_theta": 1000000.0, "shared_expert_intermediate_size": 5632,
                          "tie_word_embeddings": False, "use_sliding_window": False,
                          "vocab_size": 151936},
    "qwen2-57b-a14b": {"model_type": "qwen2_moe", "decoder_sparse_step": 1,
                       "hidden_act": "silu", "hidden_size": 3584, "intermediate_size": 18944,
                       "max_position_embeddings": 131072, "max_window_layers": 28,
                       "moe_intermediate_size": 2560, "norm_topk_prob": False,
                       "num_attention_heads": 28, "num_experts": 64, "num_experts_per_tok": 8,
                       "num_hidden_layers": 28, "num_key_value_heads": 4,
                       "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
                       "shared_expert_intermediate_size": 20480, "sliding_window": 131072,
                       "tie_word_embeddings": False, "use_sliding_window": False,
                       "vocab_size": 151936},
    "olmoe-1b-7b": {"model_type": "olmoe", "hidden_act": "silu", "hidden_size": 2048,
                    "intermediate_size": 1024, "num_hidden_layers": 16, "num_experts": 64,
                    "num_experts_per_tok": 8, "num_attention_heads": 16,
                    "num_key_value_heads": 16, "vocab_size": 50304,
                    "tie_word_embeddings": False, "max_position_embeddings": 4096,
                    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "clip_qkv": None,
                    "norm_topk_prob": False, "attention_bias": False},
    "minimax-m2": {"model_type": "minimax_m2", "head_dim": 128, "hidden_act": "silu",
                   "hidden_size": 3072, "intermediate_size": 1536,
                   "max_position_embeddings": 196608, "mlp_intermediate_size": 8192,
                   "num_attention_heads": 48, "num_experts_per_tok": 8,
                   "num_hidden_layers": 62, "num_key_value_heads": 8, "num_local_experts": 256,
                   "qk_norm_type": "per_layer", "rms_norm_eps": 1e-06, "rope_theta": 5000000,
                   "rotary_dim": 64, "scoring_func": "sigmoid", "shared_intermediate_size": 0,
                   "tie_word_embeddings": False, "use_qk_norm": True, "use_routing_bias": True,
                   "vocab_size": 200064, "use_mtp": True, "num_mtp_modules": 3},
    "ernie-4.5-21b-a3b": {"model_type": "ernie4_5_moe", "hidden_size": 2560,
                          "intermediate_size": 12288, "moe_intermediate_size": 1536,
                          "num_hidden_layers": 28, "num_attention_heads": 20,
                          "num_key_value_heads": 4, "head_dim": 128, "moe_num_experts": 64,
                          "moe_num_shared_experts": 2, "moe_k": 6, "moe_layer_start_index": 1,
                          "moe_layer_end_index": 27, "moe_layer_interval": 1,
                          "vocab_size": 103424, "tie_word_embeddings": True,
                          "hidden_act": "silu", "max_position_embeddings": 131072,
                          "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "use_bias": False},
    "granite-3.1-1b-a400m": {"model_type": "granitemoe", "attention_bias": False,
                             "attention_multiplier": 0.015625, "embedding_multiplier": 12.0,
                             "hidden_act": "silu", "hidden_size": 1024,
                             "intermediate_size": 512, "logits_scaling": 6.0,
                             "max_position_embeddings": 131072, "num_attention_heads": 16,
                             "num_experts_per_tok": 8, "num_hidden_layers": 24,
                             "num_key_value_heads": 8, "num_local_experts": 32,
                             "residual_multiplier": 0.22, "rms_norm_eps": 1e-6,
                             "rope_scaling": None, "rope_theta": 1500000.0,
                             "tie_word_embeddings": True, "vocab_size": 49155},
    "gemma-2b": {"model_type": "gemma", "hidden_size": 2048, "intermediate_size": 16384,
                 "num_hidden_layers": 18, "num_attention_heads": 8, "num_key_value_heads": 1,
                 "head_dim": 256, "hidden_act": "gelu", "max_position_embeddings": 8192,
                 "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "vocab_size": 256000},
    "phi-2": {"model_type": "phi", "hidden_size": 2560, "intermediate_size": 10240,
              "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
              "partial_rotary_factor": 0.4, "qk_layernorm": False, "hidden_act": "gelu_new",
              "layer_norm_eps": 1e-05, "max_position_embeddings": 2048, "rope_theta": 10000.0,
              "rope_scaling": None, "tie_word_embeddings": False, "vocab_size": 51200},
    "stablelm-2-1.6b": {"model_type": "stablelm", "hidden_size": 2048, "intermediate_size": 5632,
                        "num_hidden_layers": 24, "num_attention_heads": 32,
                        "num_key_value_heads": 32, "partial_rotary_factor": 0.25,
                        "rope_theta": 10000, "layer_norm_eps": 1e-05, "hidden_act": "silu",
                        "use_qkv_bias": True, "use_parallel_residual": False,
                        "qk_layernorm": False, "max_position_embeddings": 4096,
                        "tie_word_embeddings": False, "vocab_size": 100352},
    "starcoder2-3b": {"model_type": "starcoder2", "hidden_size": 3072,
                      "intermediate_size": 12288, "num_hidden_layers": 30,
                      "num_attention_heads": 24, "num_key_value_heads": 2,
                      "hidden_act": "gelu_pytorch_tanh", "max_position_embeddings": 16384,
                      "norm_epsilon": 1e-05, "rope_theta": 999999.4420358813,
                      "sliding_window": 4096, "use_bias": True, "vocab_size": 49152},
    "olmo-1b": {"model_type": "olmo", "attention_bias": False, "clip_qkv": None,
                "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192,
                "max_position_embeddings": 2048, "num_attention_heads": 16,
                "num_hidden_layers": 16, "num_key_value_heads": 16, "rope_theta": 10000.0,
                "tie_word_embeddings": True, "vocab_size": 50304},
    # Qwen3-Next (its keys as published, legacy rope keys) and a Qwen3.5 wrapper (text_config
    # read, vision_config not counted)
    "qwen3-next-80b-a3b": {
        "model_type": "qwen3_next", "architectures": ["Qwen3NextForCausalLM"],
        "decoder_sparse_step": 1, "full_attention_interval": 4, "head_dim": 256,
        "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 5120,
        "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_num_key_heads": 16,
        "linear_num_value_heads": 32, "linear_value_head_dim": 128,
        "max_position_embeddings": 262144, "mlp_only_layers": [], "moe_intermediate_size": 512,
        "norm_topk_prob": True, "num_attention_heads": 16, "num_experts": 512,
        "num_experts_per_tok": 10, "num_hidden_layers": 48, "num_key_value_heads": 2,
        "partial_rotary_factor": 0.25, "rms_norm_eps": 1e-06, "rope_scaling": None,
        "rope_theta": 10000000, "shared_expert_intermediate_size": 512,
        "tie_word_embeddings": False, "vocab_size": 151936},
    "qwen3.5-35b-a3b": {
        "model_type": "qwen3_5_moe", "architectures": ["Qwen3_5MoeForConditionalGeneration"],
        "tie_word_embeddings": False, "vision_config": {"depth": 27, "hidden_size": 1152},
        "text_config": {
            "model_type": "qwen3_5_moe_text", "attn_output_gate": True, "head_dim": 256,
            "hidden_size": 2048, "layer_types": ["linear_attention"] * 3 + ["full_attention"]
            + ["linear_attention"] * 3 + ["full_attention"] + (["linear_attention"] * 3
                                                               + ["full_attention"]) * 8,
            "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
            "linear_num_key_heads": 16, "linear_num_value_heads": 32,
            "linear_value_head_dim": 128, "max_position_embeddings": 262144,
            "moe_intermediate_size": 512, "num_attention_heads": 16, "num_experts": 256,
            "num_experts_per_tok": 8, "num_hidden_layers": 40, "num_key_value_heads": 2,
            "rms_norm_eps": 1e-06, "shared_expert_intermediate_size": 512,
            "vocab_size": 248320, "rope_parameters": {
                "mrope_interleaved": True, "mrope_section": [11, 11, 10], "rope_type": "default",
                "rope_theta": 10000000, "partial_rotary_factor": 0.25}}},
    "santacoder": {"model_type": "gpt_bigcode", "activation_function": "gelu_pytorch_tanh",
                   "multi_query": True, "layer_norm_epsilon": 1e-05, "n_embd": 2048,
                   "n_head": 16, "n_inner": 8192, "n_layer": 24, "n_positions": 2048,
                   "scale_attn_weights": True, "vocab_size": 49280},
    # Gemma 4 31B's multimodal config (its text_config as published; vision_config left out)
    "gemma-4-31b": {"model_type": "gemma4", "text_config": {
        "attention_bias": False, "attention_k_eq_v": True, "enable_moe_block": False,
        "expert_intermediate_size": None, "final_logit_softcapping": 30.0,
        "global_head_dim": 512, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 5376, "hidden_size_per_layer_input": 0, "intermediate_size": 21504,
        "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 10,
        "max_position_embeddings": 262144, "model_type": "gemma4_text",
        "moe_intermediate_size": None, "num_attention_heads": 32, "num_experts": None,
        "num_global_key_value_heads": 4, "num_hidden_layers": 60, "num_key_value_heads": 16,
        "num_kv_shared_layers": 0, "rms_norm_eps": 1e-06, "rope_parameters": {
            "full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1000000.0,
                               "rope_type": "proportional"},
            "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}},
        "sliding_window": 1024, "tie_word_embeddings": True, "top_k_experts": None,
        "use_bidirectional_attention": "vision", "use_double_wide_mlp": False,
        "vocab_size": 262144, "vocab_size_per_layer_input": 262144}},
    "smollm2-135m": {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
                     "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                     "max_position_embeddings": 8192, "rms_norm_eps": 1e-05,
                     "rope_theta": 100000, "tie_word_embeddings": True, "vocab_size": 49152},
    # image-text configs, read for their text decoder (the vision_config is left out here)
    "llama-4-scout-17b-16e": {"model_type": "llama4", "text_config": {
        "model_type": "llama4_text", "attention_bias": False, "attention_chunk_size": 8192,
        "attn_scale": 0.1, "attn_temperature_tuning": 4, "floor_scale": 8192, "head_dim": 128,
        "hidden_act": "silu", "hidden_size": 5120, "interleave_moe_layer_step": 1,
        "intermediate_size": 8192, "intermediate_size_mlp": 16384,
        "max_position_embeddings": 262144, "moe_layers": list(range(48)),
        "no_rope_layers": [1, 1, 1, 0] * 12, "num_attention_heads": 40,
        "num_experts_per_tok": 1, "num_hidden_layers": 48, "num_key_value_heads": 8,
        "num_local_experts": 16, "rms_norm_eps": 1e-05, "rope_scaling": {
            "factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "use_qk_norm": True, "vocab_size": 202048}},
    "llama-4-maverick-17b-128e": {"model_type": "llama4", "text_config": {
        "model_type": "llama4_text", "attention_bias": False, "attention_chunk_size": 8192,
        "head_dim": 128, "hidden_act": "silu", "hidden_size": 5120,
        "interleave_moe_layer_step": 2, "intermediate_size": 8192,
        "intermediate_size_mlp": 16384, "max_position_embeddings": 1048576,
        "num_attention_heads": 40, "num_experts_per_tok": 1, "num_hidden_layers": 48,
        "num_key_value_heads": 8, "num_local_experts": 128, "rms_norm_eps": 1e-05,
        "rope_scaling": None, "rope_theta": 500000.0, "use_qk_norm": False,
        "vocab_size": 202048}},
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configs_read_as_the_registry_spec(name):
    spec = spec_from_config(PUBLISHED[name])
    assert architecture_key(spec) == architecture_key(zoo.get_spec(name))


@pytest.mark.parametrize("name", [n for n in zoo.list_models()
                                  if n not in ("gpt3-1.3b", "gpt3-13b")
                                  and not n.startswith("gpt3")])
def test_round_trip(name):
    spec = zoo.get_spec(name)
    assert architecture_key(spec_from_config(write_config(spec))) == architecture_key(spec)


def test_gpt3_banded_layers_have_no_transformers_equivalent():
    with pytest.raises(UnsupportedConfigError, match="no transformers architecture"):
        write_config(zoo.get_spec("gpt3-175b"))


@pytest.mark.parametrize(("config", "fragment"), [
    ({"model_type": "t5"}, "model_type 't5' is not supported"),
    ({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
      "num_hidden_layers": 2, "intermediate_size": 128, "max_position_embeddings": 16,
      "vocab_size": 10, "rope_scaling": {"rope_type": "ntk"}}, "rope scaling 'ntk'"),
    ({"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_positions": 8, "vocab_size": 10},
     "no n_embd"),
    ({"model_type": "gpt2", "n_embd": 8, "n_layer": 2, "n_head": 2, "n_positions": 8,
      "vocab_size": 10, "activation_function": "quick_gelu"}, "quick_gelu"),
    ({"model_type": "phi", "qk_layernorm": True}, "qk_layernorm"),
    ({"model_type": "stablelm", "qk_layernorm": True}, "qk_layernorm"),
    ({"model_type": "gpt_bigcode", "add_cross_attention": True}, "add_cross_attention"),
    ({"model_type": "llama4_text", "interleave_moe_layer_step": 0},
     "interleave_moe_layer_step 0"),
    ({"model_type": "llama4_text", "attention_chunk_size": None,
      "layer_types": ["chunked_attention"] * 48}, "attention_chunk_size is null"),
    ({"model_type": "exaone4", "sliding_window_pattern": "LLLG"},
     "sliding_window_pattern 'LLLG' and no layer_types"),
    ({"model_type": "granite_swa", "num_hidden_layers": 2, "layer_rope_theta": [1e4]},
     "layer_rope_theta is not 2 numbers"),
])
def test_unsupported_configs_say_why(config, fragment):
    with pytest.raises(UnsupportedConfigError, match=fragment):
        spec_from_config(config)


@pytest.mark.parametrize("label", ["bamba", "granitemoehybrid-dense"])
def test_a_hybrid_config_refuses_what_its_fields_cannot_say(label):
    """Bamba's and Granite 4 hybrid's writers: a scan width that is no multiple of the model's,
    and attention biases on q, k, v but not o, are refused by name."""
    spec = tiny_spec(label)
    assert spec_from_config(write_config(spec)).ssm_d_inner == spec.ssm_d_inner
    with pytest.raises(UnsupportedConfigError,
                       match="the scan is mamba_expand x hidden_size wide, not 144 for "
                             "hidden_size 64"):
        write_config(spec.with_changes(ssm_d_inner=144))
    with pytest.raises(UnsupportedConfigError, match="attention_bias covers q, k, v and o"):
        write_config(spec.with_changes(qkv_bias=True, attn_out_bias=False))


def test_rotary_per_layer_as_the_classes_settle_it():
    """OLMo 3 scales its full layers only, and a legacy rope_theta reaches them alone (the
    sliding layers keep Olmo3Config's 500,000); EXAONE 4's published string pattern is read
    beside its layer_types, its full layers without positions; Granite SWA's per-layer bases
    are one for the full layers and one for the sliding, else counted, not built."""
    olmo3 = spec_from_config({"model_type": "olmo3", "num_hidden_layers": 4, "rope_theta": 1e4,
                              "rope_scaling": {"rope_type": "linear", "factor": 2.0}})
    assert (olmo3.rope_theta, olmo3.local_rope_theta) == (1e4, 5e5)
    assert olmo3.rope_scaling is not None and olmo3.layer_kinds[2:] == ("local", "global")
    exaone4 = spec_from_config({"model_type": "exaone4", "num_hidden_layers": 4,
                                "sliding_window_pattern": "LLLG",
                                "layer_types": ["sliding_attention"] * 3 + ["full_attention"]})
    assert exaone4.layer_rotary == (True, True, True, False) and not exaone4.counted_only
    swa = {"model_type": "granite_swa", "num_hidden_layers": 4}
    nope = spec_from_config({**swa, "layer_rope_theta": [1e4, 1e3, 1e3, 0]})
    assert (nope.rope_theta, nope.local_rope_theta) == (1e4, 1e3)
    assert nope.layer_rotary == (True, True, True, False) and not nope.counted_only
    mixed = spec_from_config({**swa, "layer_rope_theta": [1e4, 1e3, 2e3, 1e3]})
    assert "layer_rope_theta" in mixed.counted_only


def test_the_table_is_the_package_s_modules_in_priority_order():
    """Discovered, not listed: every module of zoo/architectures but the shared vocabulary
    (base) and the wrappers' tower closed forms (towers) holds entries, each with a PRIORITY of
    its own, and the table follows them in that order, which is the order write_config tries
    the architectures in."""
    import pkgutil

    import zoo.architectures as package

    modules = {info.name for info in pkgutil.iter_modules(package.__path__)} - {"base", "towers"}
    assert {module.__name__.rsplit(".", 1)[1] for module in FAMILY_MODULES} == modules
    priorities = [module.PRIORITY for module in FAMILY_MODULES]
    assert priorities == sorted(priorities) and len(set(priorities)) == len(priorities)
    assert list(ARCHITECTURES) == [entry.model_type for module in FAMILY_MODULES
                                   for entry in module.ENTRIES]


def _written_as(spec: ModelSpec) -> str | None:
    """The model_type write_config writes a spec as; None where no transformers class computes
    it."""
    try:
        return write_config(spec)["model_type"]
    except UnsupportedConfigError:
        return None


def test_every_family_and_architecture_has_a_tiny_model():
    """The tiny models (zoo.testing.FAMILIES) hold every architecture to transformers: each
    has a transformers twin, each registry family is written as an architecture some tiny model
    is written as too, and an entry no tiny model is written as writes no spec at all (Gemma 3's
    multimodal config, read for its text decoder). A family no transformers class computes
    (GPT-3's banded layers) is held to the closed form alone."""
    tiny = {label: _written_as(tiny_spec(label)) for label in FAMILIES}
    assert None not in tiny.values(), [label for label, t in tiny.items() if t is None]
    covered = set(tiny.values())
    for family in zoo.families():
        written = {_written_as(zoo.get_spec(name)) for name in zoo.list_models(family=family)}
        assert written - {None} <= covered, f"{family}: no tiny model is written as " \
                                            f"{sorted(written - covered - {None})}"
    specs = [*map(zoo.get_spec, zoo.list_models()), *map(tiny_spec, FAMILIES)]
    for model_type, entry in ARCHITECTURES.items():
        if model_type not in covered:
            for spec in specs:
                with pytest.raises(UnsupportedConfigError):
                    entry.write(spec)


LLAMA_SMALL = {"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
               "intermediate_size": 128, "max_position_embeddings": 16, "vocab_size": 10}


def test_a_config_is_read_by_the_class_its_architectures_names():
    """A model_type zoo has no entry for, built by a class it has (exaone and internlm3 are
    LlamaForCausalLM), is read by that class's entry; with no known class it is refused."""
    llama = spec_from_config({"model_type": "llama", **LLAMA_SMALL})
    other = spec_from_config({"model_type": "someones_llama",
                              "architectures": ["LlamaForCausalLM"], **LLAMA_SMALL})
    assert architecture_key(other) == architecture_key(llama)
    with pytest.raises(UnsupportedConfigError, match="someones_llama"):
        spec_from_config({"model_type": "someones_llama", "architectures": ["NewForCausalLM"],
                          **LLAMA_SMALL})


@pytest.mark.parametrize(("extra", "reason"), [
    ({"rope_scaling": {"rope_type": "longrope", "short_factor": [1.0], "long_factor": [1.0]}},
     "rope scaling 'longrope'"),
    ({"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, "rope scaling 'dynamic'"),
    ({"hidden_act": "gelu"}, "hidden_act 'gelu'"),
    ({"partial_rotary_factor": 0.5}, "partial_rotary_factor"),
])
def test_count_neutral_settings_are_counted_not_built(extra, reason):
    """Settings without parameters that zoo's decoder does not compute: the count is the
    plain model's, and the spec says it is not built (create_model refuses it by name)."""
    plain = zoo.count_params(spec_from_config({"model_type": "llama", **LLAMA_SMALL}))
    spec = spec_from_config({"model_type": "llama", **LLAMA_SMALL, **extra})
    assert zoo.count_params(spec).total == plain.total
    assert reason in spec.counted_only
    with pytest.raises(SpecError, match="counted; building it is not supported"):
        zoo.create_model(spec, device="meta")


def test_count_changing_settings_are_read():
    """mlp_bias without attention_bias (llama) and falcon's bias change the count: read."""
    llama = spec_from_config({"model_type": "llama", **LLAMA_SMALL, "mlp_bias": True})
    assert llama.has_bias("mlp") and not llama.has_bias("qkv") and not llama.counted_only
    falcon = {"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4,
              "num_hidden_layers": 2, "vocab_size": 10}
    assert spec_from_config({**falcon, "bias": True}).has_bias("qkv")
    alibi = spec_from_config({**falcon, "alibi": True})
    assert alibi.position == "alibi" and "ALiBi" in alibi.counted_only


def _transformers_count(config: dict) -> int:
    """transformers' own count of a config.json mapping, built on the meta device."""
    import torch
    import transformers

    config = dict(config)
    hf_config = transformers.CONFIG_MAPPING[config.pop("model_type")](**config)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


# small configs of the MoE types with the keys that change the count left out or set: what
# transformers' class makes of them is what zoo counts
TINY_MOE = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4,
            "num_attention_heads": 4, "vocab_size": 101}
MISSING_AND_SET = {
    # no num_key_value_heads: MixtralConfig's and MistralConfig's default is 8, not the heads
    "mixtral without kv heads": {"model_type": "mixtral", **TINY_MOE, "num_attention_heads": 16,
                                 "num_local_experts": 4},
    "mistral without kv heads": {"model_type": "mistral", **TINY_MOE, "num_attention_heads": 16},
    # no head_dim: hidden_size / heads (not 128); dense layers by mlp_only_layers and step
    "qwen3_moe without head_dim": {"model_type": "qwen3_moe", **TINY_MOE, "num_experts": 10,
                                   "moe_intermediate_size": 16},
    "qwen3_moe with dense layers": {"model_type": "qwen3_moe", **TINY_MOE, "num_experts": 8,
                                    "moe_intermediate_size": 16, "head_dim": 8,
                                    "mlp_only_layers": [0], "decoder_sparse_step": 2},
    "qwen2_moe with sparse step": {"model_type": "qwen2_moe", **TINY_MOE, "num_experts": 4,
                                   "moe_intermediate_size": 16,
                                   "shared_expert_intermediate_size": 24,
                                   "decoder_sparse_step": 2, "qkv_bias": False,
                                   "num_key_value_heads": 2},
    "olmoe defaults": {"model_type": "olmoe", **TINY_MOE, "num_experts": 8},
    "minimax_m2 defaults": {"model_type": "minimax_m2", **TINY_MOE, "num_key_value_heads": 2,
                            "head_dim": 16, "num_local_experts": 8},
    "ernie4_5_moe interleaved": {"model_type": "ernie4_5_moe", **TINY_MOE,
                                 "num_key_value_heads": 2, "moe_num_experts": 8, "moe_k": 2,
                                 "moe_layer_start_index": 0, "moe_layer_end_index": 2,
                                 "moe_layer_interval": 2},
    "granitemoe defaults": {"model_type": "granitemoe", **TINY_MOE, "num_local_experts": 4},
    "granitemoeshared defaults": {"model_type": "granitemoeshared", **TINY_MOE,
                                  "num_local_experts": 4, "shared_intermediate_size": 40},
    "qwen2_moe defaults": {"model_type": "qwen2_moe", **TINY_MOE, "num_attention_heads": 16,
                           "num_experts": 4},
}


@pytest.mark.parametrize("label", MISSING_AND_SET)
def test_missing_keys_read_as_transformers_class_defaults(label):
    config = MISSING_AND_SET[label]
    assert zoo.count_params(spec_from_config(config)).total == _transformers_count(config)
