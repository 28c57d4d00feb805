"""Closed-form accounting: hand-computed cases, and equality with transformers' own count."""

from __future__ import annotations

import pytest

import zoo
from zoo import count_params
from zoo.spec import spec_from_mapping

# Exact totals checked by hand from the architecture and against the published checkpoints.
KNOWN = {"gpt2": 124_439_808, "gpt2-medium": 354_823_168, "gpt2-large": 774_030_080,
         "gpt2-xl": 1_557_611_200, "openai-gpt": 116_534_784, "bloom-560m": 559_214_592,
         "bloom-176b": 176_247_271_424, "pythia-70m": 70_426_624, "gpt-j-6b": 6_050_882_784,
         "gpt-neox-20b": 20_554_567_680, "smollm2-135m": 134_515_008,
         "llama-7b": 6_738_415_616, "llama-2-70b": 68_976_648_192,
         "mistral-7b-v0.1": 7_241_732_096, "falcon-7b": 6_921_720_704,
         "opt-125m": 125_239_296, "opt-350m": 331_196_416, "gpt3-175b": 174_604_259_328}


@pytest.mark.parametrize(("name", "total"), KNOWN.items())
def test_known_totals(name, total):
    assert count_params(name).total == total


def test_gpt2_breakdown_by_hand():
    c = count_params("gpt2")
    d, v, t, n = 768, 50257, 1024, 12
    assert c.token_embedding == v * d
    assert c.position_embedding == t * d
    assert c.attention == n * (d * 3 * d + 3 * d + d * d + d)
    assert c.mlp == n * (d * 4 * d + 4 * d + 4 * d * d + d)
    assert c.norms == n * 2 * 2 * d + 2 * d
    assert c.head == 0 and c.tied_head
    assert c.total_with_head_counted_separately == c.total + v * d == 163_037_184
    assert c.non_embedding == c.total - v * d - t * d == 85_056_000
    assert len(c.layers) == n and all(layer.total == c.layers[0].total for layer in c.layers)
    assert sum(layer.total for layer in c.layers) == c.attention + c.mlp + c.norms - 2 * d


def test_untied_head_and_head_bias():
    gptj = count_params("gpt-j-6b")
    assert not gptj.tied_head
    assert gptj.head == 50400 * 4096 + 50400
    assert gptj.total_with_head_counted_separately == gptj.total


def test_opt350m_projections_are_extras():
    c = count_params("opt-350m")
    assert c.extras == 2 * 512 * 1024
    assert c.token_embedding == 50272 * 512
    assert c.position_embedding == (2048 + 2) * 1024


def test_classifier_head_counts():
    base = count_params("openai-gpt")
    with_head = count_params("openai-gpt", head="classify", num_labels=3)
    assert with_head.total - base.total == 768 * 3
    with pytest.raises(ValueError, match="num_labels"):
        count_params("gpt2", head="classify", num_labels=0)
    with pytest.raises(ValueError, match="unknown head"):
        count_params("gpt2", head="regress")


def test_memory_per_dtype():
    c = count_params("gpt2")
    assert c.weight_bytes("fp32") == 4 * c.total
    assert c.weight_bytes("bf16") == c.weight_bytes("fp16") == 2 * c.total
    assert c.weight_bytes("int8") == c.total
    assert c.weight_bytes("int4") == c.total // 2
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        c.weight_bytes("fp8")


def test_kv_cache_counts_grouped_heads_and_windows():
    # Llama-2-70B: 8 kv heads of 128, 80 layers, bf16: 2 x 80 x 8 x 128 x 2 bytes per token
    assert count_params("llama-2-70b").kv_cache_bytes(1, "bf16") == 327_680
    # Falcon-7B is multi-query: one kv head of 64
    assert count_params("falcon-7b").kv_cache_bytes(1, "bf16") == 2 * 32 * 64 * 2
    # GPT-2: full multi-head cache; batch multiplies
    gpt2 = count_params("gpt2")
    assert gpt2.kv_cache_bytes(1024, "fp32", batch=2) == 2 * 1024 * 2 * 12 * 768 * 4
    # Mistral's sliding window bounds the cache at 4096 positions per layer
    mistral = count_params("mistral-7b-v0.1")
    per_token = mistral.kv_cache_bytes(1, "bf16")
    assert mistral.kv_cache_bytes(32768, "bf16") == 4096 * per_token
    # GPT-Neo: only the global half of the layers grows past the 256 window
    neo = count_params("gpt-neo-125m")
    per_layer_token = 2 * 768 * 2
    assert neo.kv_cache_bytes(2048, "bf16") == (6 * 2048 + 6 * 256) * per_layer_token


def test_flops():
    c = count_params("gpt2")
    d, n, v = 768, 12, 50257
    matmul = n * (4 * d * d + 8 * d * d) + v * d
    assert c.matmul_params == matmul
    assert c.forward_flops_per_token(1024) == 2 * matmul + 4 * n * 1024 * d
    assert c.forward_flops_per_token() == c.forward_flops_per_token(1024)
    assert c.training_flops_per_token(1024) == 3 * c.forward_flops_per_token(1024)
    neo = count_params("gpt-neo-125m")
    assert neo.attention_flops_per_token(2048) == 4 * 768 * (6 * 2048 + 6 * 256)


def test_training_memory_is_16_bytes_per_param():
    c = count_params("gpt3-175b")
    memory = c.training_memory()
    assert memory["total"] == 16 * c.total
    assert memory["weights_bf16"] == memory["gradients_bf16"] == 2 * c.total


def test_to_dict_has_exact_integers():
    data = count_params("bloom-176b").to_dict()
    assert data["total"] == 176_247_271_424
    assert sum(data["components"].values()) == data["total"]
    assert len(data["per_layer"]) == 70


def test_switches_change_the_count():
    base = spec_from_mapping({"name": "t", "family": "t", "n_layer": 2, "d_model": 64,
                              "n_head": 4, "d_ff": 256, "vocab_size": 100, "context_length": 32})
    total = count_params(base).total
    assert count_params(base.with_changes(n_kv_head=1)).total == total - 2 * 2 * (64 * 48 + 48)
    assert count_params(base.with_changes(norm="rmsnorm")).total == total - 5 * 64
    assert count_params(base.with_changes(position="rotary")).total == total - 32 * 64
    assert count_params(base.with_changes(tie_embeddings=False)).total == total + 100 * 64
    gated = count_params(base.with_changes(activation="swiglu")).total
    assert gated == total + 2 * (64 * 256 + 256)
    assert count_params(base.with_changes(block="parallel")).total == total - 2 * 2 * 64
    assert count_params(base.with_changes(bias=False)).total == total - 2 * (3 * 64 + 64 + 256 + 64)


# --- the same integer as transformers, for every spec it can express ----------------------

# GPT-3's banded layers are parameter-free: transformers_count counts it as the dense GPT-2 it
# otherwise is. GPT-3 XL and 13B state a d_head that no transformers class takes; zoo's own
# module verifies those (tests/test_model.py).
NOT_IN_TRANSFORMERS = {"gpt3-1.3b", "gpt3-13b"}


@pytest.mark.parametrize("name", zoo.list_models())
def test_count_equals_transformers(name):
    pytest.importorskip("transformers")
    from zoo.testing import transformers_count

    theirs = transformers_count(zoo.get_spec(name))
    if name in NOT_IN_TRANSFORMERS:
        assert theirs is None
    else:
        assert count_params(name).total == theirs


# --- figures that rest on assumed values ------------------------------------------------------

def test_figures_resting_on_gpt3s_assumed_band_carry_the_dense_alternative():
    """GPT-3's band width (128) is not published: its KV cache and attention FLOPs rest on it,
    its parameter count does not (local attention has no parameters)."""
    data = count_params("gpt3-175b").to_dict()
    [caveat] = data["caveats"]
    assert (caveat["field"], caveat["assumed"], caveat["alternative"]) == ("local_window", 128,
                                                                           "dense")
    dense = caveat["under_alternative"]
    per_position = 2 * 12288 * 2  # bf16 key and value of one layer and token
    assert data["kv_cache"]["bytes_at_context"]["bf16"] == (48 * 2048 + 48 * 128) * per_position
    assert dense["kv_cache.bytes_at_context.bf16"] == 96 * 2048 * per_position == 9_663_676_416
    assert dense["flops.attention_per_token"] == 4 * 12288 * 96 * 2048
    assert not any(key.startswith(("total", "components", "weight_bytes")) for key in dense)
    assert count_params("gpt2").to_dict()["caveats"] == []


def test_an_assumption_zoo_knows_no_alternative_for_caveats_everything(write_yaml):
    spec = zoo.registry.load_spec_file(write_yaml("m.yaml", """
        name: guessed
        family: mine
        n_layer: 2
        d_model: 64
        n_head: 4
        d_ff: 256
        vocab_size: 100
        context_length: 64
        unpublished: [d_ff]
    """))[0]
    [caveat] = count_params(spec).to_dict()["caveats"]
    assert caveat["field"] == "d_ff" and caveat["under_alternative"] is None
