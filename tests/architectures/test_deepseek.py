"""The DeepSeek line's readers: a key a config.json leaves out means what transformers' class
defaults it to, and a key that changes the count is read or refused by name."""

from __future__ import annotations

import pytest

from zoo.architectures import UnsupportedConfigError, spec_from_config
from zoo.architectures.deepseek import (
    GLM4_MOE_DEFAULTS,
    V2_DEFAULTS,
    V3_DEFAULTS,
    V32_DEFAULTS,
)

# a small DeepSeek-V3 config.json that states every key the reader reads
SMALL_V3 = {"model_type": "deepseek_v3", "vocab_size": 97, "hidden_size": 64,
            "intermediate_size": 96, "moe_intermediate_size": 16, "num_hidden_layers": 3,
            "num_attention_heads": 4, "num_key_value_heads": 4, "n_shared_experts": 1,
            "n_routed_experts": 8, "routed_scaling_factor": 2.5, "kv_lora_rank": 32,
            "q_lora_rank": 48, "qk_rope_head_dim": 8, "v_head_dim": 16, "qk_nope_head_dim": 16,
            "n_group": 4, "topk_group": 2, "num_experts_per_tok": 2,
            "first_k_dense_replace": 1, "norm_topk_prob": True, "hidden_act": "silu",
            "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
            "rope_interleave": True, "attention_bias": False}


@pytest.mark.parametrize(("model_type", "defaults"), [("deepseek_v3", V3_DEFAULTS),
                                                     ("deepseek_v2", V2_DEFAULTS),
                                                     ("glm4_moe", GLM4_MOE_DEFAULTS),
                                                     ("deepseek_v32", V32_DEFAULTS)])
def test_reader_defaults_are_the_transformers_class_defaults(model_type, defaults):
    import transformers

    fields = transformers.CONFIG_MAPPING[model_type].__dataclass_fields__
    theirs = {key: fields[key].default for key in defaults}
    assert theirs == defaults


@pytest.mark.parametrize("key", ["first_k_dense_replace", "n_shared_experts", "n_group",
                                 "topk_group", "routed_scaling_factor", "norm_topk_prob",
                                 "q_lora_rank", "rope_interleave"])
def test_a_missing_key_is_the_class_default(key):
    config = {k: v for k, v in SMALL_V3.items() if k != key}
    spec = spec_from_config({**config, "n_routed_experts": 256, "num_hidden_layers": 4})
    field = {"first_k_dense_replace": spec.first_dense_layers,
             "n_shared_experts": spec.n_shared_experts, "n_group": spec.expert_groups,
             "topk_group": spec.expert_groups_per_token,
             "routed_scaling_factor": spec.routed_scaling,
             "norm_topk_prob": spec.router_normalize, "q_lora_rank": spec.q_lora_rank,
             "rope_interleave": spec.rotary_style == "interleaved"}[key]
    assert field == V3_DEFAULTS[key]


def test_attention_bias_is_refused_by_name():
    with pytest.raises(UnsupportedConfigError, match="attention_bias"):
        spec_from_config({**SMALL_V3, "attention_bias": True})


@pytest.mark.parametrize(("change", "key"), [({"mlp_bias": True}, "mlp_bias"),
                                            ({"moe_layer_freq": 2}, "moe_layer_freq"),
                                            ({"topk_method": "noaux_tc"}, "topk_method"),
                                            ({"attention_bias": True}, "attention_bias")])
def test_deepseek_v2_refuses_what_it_does_not_model_by_name(change, key):
    config = {**SMALL_V3, "model_type": "deepseek_v2", "q_lora_rank": None}
    with pytest.raises(UnsupportedConfigError, match=key):
        spec_from_config({**config, **change})


def test_deepseek_v2_routing_follows_topk_method():
    config = {**SMALL_V3, "model_type": "deepseek_v2", "norm_topk_prob": True}
    greedy = spec_from_config(config)
    assert greedy.expert_groups is None and not greedy.router_normalize
    limited = spec_from_config({**config, "topk_method": "group_limited_greedy"})
    assert (limited.expert_groups, limited.expert_groups_per_token,
            limited.expert_group_score) == (4, 2, "max")


def test_kimi_k2_is_read_as_deepseek_v3():
    spec = spec_from_config({**SMALL_V3, "model_type": "kimi_k2"})
    assert spec == spec_from_config(SMALL_V3).with_changes(family="deepseek-v3")


def test_glm4_moe_head_width_and_rotary_fraction_default_as_transformers():
    config = {"model_type": "glm4_moe", "hidden_size": 64, "num_attention_heads": 4,
              "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 97}
    spec = spec_from_config(config)
    assert (spec.head_dim, spec.rotary_fraction, spec.first_dense_layers) == (16, 0.5, 1)
    assert spec_from_config({**config, "partial_rotary_factor": 1.0}).rotary_fraction == 1.0


def test_deepseek_v32_reads_its_indexer_and_mlp_layer_types():
    config = {**SMALL_V3, "model_type": "deepseek_v32", "index_n_heads": 2,
              "index_head_dim": 16, "index_topk": 8}
    spec = spec_from_config(config)
    assert (spec.indexer_heads, spec.indexer_head_dim, spec.indexer_topk) == (2, 16, 8)
    layered = spec_from_config({**config, "mlp_layer_types": ["dense", "dense", "sparse"]})
    assert layered.first_dense_layers == 2
    with pytest.raises(UnsupportedConfigError, match="mlp_layer_types"):
        spec_from_config({**config, "mlp_layer_types": ["sparse", "dense", "sparse"]})
    with pytest.raises(UnsupportedConfigError, match="q_lora_rank"):
        spec_from_config({**config, "q_lora_rank": None})


@pytest.mark.parametrize("label", ["deepseek-v2", "deepseek-v3", "deepseek-v32"])
def test_the_latents_are_normalised_at_the_classes_own_epsilon(tmp_path, label):
    """DeepseekV2/V3/V32Attention build q_a_layernorm and kv_a_layernorm at their RMSNorm's
    default epsilon, 1e-6, whatever rms_norm_eps says: a checkpoint of rms_norm_eps 1e-2 gives
    transformers' logits (its latents at 1e-2 were 0.11 to 0.27 off)."""
    import torch

    from zoo.checkpoints.hf import from_hf
    from zoo.testing import hf_model, tiny_spec

    spec = tiny_spec(label).with_changes(norm_eps=1e-2, latent_norm_eps=1e-6)
    hf = hf_model(spec)
    hf.save_pretrained(tmp_path)
    assert hf.config.rms_norm_eps == 1e-2
    model = from_hf(tmp_path).eval()
    assert model.spec.latent_eps == 1e-6 and model.spec.norm_eps == 1e-2
    ids = torch.randint(0, spec.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(ids) - hf(ids).logits).abs().max() <= 1e-5
