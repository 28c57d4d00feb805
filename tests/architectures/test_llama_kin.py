"""Published configs of LLaMA's kin that zoo builds (seed_oss, helium, cwm, ministral3, arcee,
jais2, persimmon): read as built, built on the meta device at the count transformers gives
(the figures below are transformers 5.25's, from its own classes on the meta device)."""

from __future__ import annotations

import pytest

import zoo
from zoo.architectures import spec_from_config

PUBLISHED = {
    "ByteDance-Seed/Seed-OSS-36B": ({
        "model_type": "seed_oss", "architectures": ["SeedOssForCausalLM"], "hidden_size": 5120,
        "num_hidden_layers": 64, "intermediate_size": 27648, "num_attention_heads": 80,
        "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6, "vocab_size": 155136,
        "rope_theta": 10000000.0, "rope_scaling": {"rope_type": "default"},
        "max_position_embeddings": 524288, "tie_word_embeddings": False}, 36_151_104_512),
    "kyutai/helium-1-preview-2b": ({
        "architectures": ["HeliumForCausalLM"], "model_type": "helium", "attention_bias": False,
        "head_dim": 128, "hidden_act": "silu", "hidden_size": 2560, "intermediate_size": 7040,
        "max_position_embeddings": 4096, "mlp_bias": False, "num_attention_heads": 20,
        "num_hidden_layers": 24, "num_key_value_heads": 20, "rms_norm_eps": 1e-08,
        "rope_theta": 100000.0, "tie_word_embeddings": False, "vocab_size": 48000},
        2_172_643_840),
    "adept/persimmon-8b-base": ({
        "architectures": ["PersimmonForCausalLM"], "model_type": "persimmon",
        "hidden_size": 4096, "intermediate_size": 16384, "num_hidden_layers": 36,
        "num_attention_heads": 64, "num_key_value_heads": 64, "hidden_act": "relu2",
        "layer_norm_eps": 1e-5, "max_position_embeddings": 16384, "qk_layernorm": True,
        "rope_theta": 25000.0, "rope_scaling": None, "tie_word_embeddings": False,
        "vocab_size": 262144}, 9_397_175_296),
    # the text_config of mistralai/Ministral-3-8B's Mistral3ForConditionalGeneration
    "mistralai/Ministral-3-8B (text)": ({
        "model_type": "ministral3", "hidden_size": 4096, "num_hidden_layers": 34,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
        "intermediate_size": 14336, "vocab_size": 131072, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 262144, "rope_parameters": {
            "rope_type": "yarn", "rope_theta": 1000000, "factor": 16.0,
            "original_max_position_embeddings": 16384, "beta_fast": 32.0, "beta_slow": 1.0,
            "llama_4_scaling_beta": 0.1}}, 8_489_553_920),
}


@pytest.mark.parametrize(("repo", "published"), PUBLISHED.items())
def test_published_configs_build_at_transformers_count(repo, published):
    config, total = published
    spec = spec_from_config(config)
    assert not spec.counted_only, spec.counted_only
    assert zoo.count_params(spec).total == total
    assert zoo.create_model(spec, device="meta").num_params() == total
