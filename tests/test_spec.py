"""ModelSpec validation: every bad input is a SpecError naming the file, model and field."""

from __future__ import annotations

import contextlib
import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.spec import SPEC_FIELDS, ModelSpec, SpecError, spec_from_mapping, to_mapping

BASE = {"name": "tiny", "family": "test", "n_layer": 2, "d_model": 64, "n_head": 4, "d_ff": 256,
        "vocab_size": 100, "context_length": 32}


def test_minimal_spec_and_defaults():
    spec = spec_from_mapping(BASE)
    assert isinstance(spec, ModelSpec)
    assert spec.head_dim == 16 and spec.kv_heads == 4 and spec.position == "learned"
    assert spec.has_bias("qkv") and spec.layer_kinds == ("global", "global")


def test_spec_is_frozen_and_hashable():
    spec = spec_from_mapping(BASE)
    with pytest.raises(AttributeError):
        spec.n_layer = 3  # type: ignore[misc]
    assert hash(spec) == hash(spec_from_mapping(BASE))


def test_round_trip_through_mapping():
    spec = spec_from_mapping({**BASE, "position": "rotary", "rotary_fraction": 0.25,
                              "reported": {"params": "1.5M", "source": "me"},
                              "notes": ["a", "b"], "attention_pattern": ["global", "local"],
                              "local_window": 8})
    assert spec_from_mapping(to_mapping(spec)) == spec
    assert spec.reported.params == 1_500_000


def expect_error(data, field_name, fragment, file="f.yaml"):
    with pytest.raises(SpecError) as info:
        spec_from_mapping(data, file=file)
    err = info.value
    assert err.field == field_name, str(err)
    assert fragment in str(err), str(err)
    assert file in str(err) and f"model {data.get('name')!r}" in str(err)
    return err


def test_unknown_key_suggests_nearest():
    expect_error({**BASE, "n_heads": 4}, "n_heads", "did you mean 'n_head'")


def test_missing_required_field():
    data = dict(BASE)
    del data["d_ff"]
    expect_error(data, "d_ff", "required field is missing")


@pytest.mark.parametrize(("field_name", "value", "fragment"), [
    ("n_layer", "12", "expected an integer"),
    ("n_layer", True, "expected an integer"),
    ("n_layer", 1.5, "expected an integer"),
    ("d_model", -768, "expected an integer >= 1"),
    ("vocab_size", 0, ">= 1"),
    ("norm_eps", "tiny", "finite number"),
    ("norm_eps", 0, "> 0"),
    ("rotary_fraction", 1.5, "<= 1"),
    ("tie_embeddings", "yes", "true or false"),
    ("name", "GPT-2", "lowercase"),
    ("n_layer", 100_000_000, "expected an integer <= 10,000; more is far deeper than any model"),
])
def test_wrong_types_and_values(field_name, value, fragment):
    expect_error({**BASE, field_name: value}, field_name, fragment)


def test_unknown_enum_lists_allowed_values():
    err = expect_error({**BASE, "activation": "gelu_fast"}, "activation", "one of")
    assert "swiglu" in str(err) and "gelu_tanh" in str(err)
    expect_error({**BASE, "attention_pattern": ["global", "sparse"]}, "attention_pattern",
                 "global, local")


def test_d_model_not_divisible_by_heads_needs_d_head():
    expect_error({**BASE, "n_head": 5}, "d_head", "not divisible by n_head 5")
    spec = spec_from_mapping({**BASE, "n_head": 5, "d_head": 16})
    assert spec.q_dim == 80


def test_heads_not_divisible_by_kv_heads():
    expect_error({**BASE, "n_kv_head": 3}, "n_kv_head", "not divisible by n_kv_head 3")


def test_cross_field_rules():
    expect_error({**BASE, "attention_pattern": ["local"]}, "local_window", "no local_window")
    expect_error({**BASE, "block": "parallel", "norm_position": "post"}, "block", "post-norm")
    expect_error({**BASE, "position": "rotary", "position_offset": 2}, "position_offset",
                 "learned")
    expect_error({**BASE, "position": "rotary", "rotary_fraction": 0.01}, "rotary_fraction",
                 "even number")
    expect_error({**BASE, "unpublished": ["windw"]}, "unpublished", "not a field")
    expect_error({**BASE, "embed_dim": 64}, "embed_dim", "no projection")
    expect_error({**BASE, "attention_gate_bias": True, "counted_only": "Beam"},
                 "attention_gate_bias", "needs the output gate")
    expect_error({**BASE, "expert_output_norms": True, "counted_only": "Ergo"},
                 "expert_output_norms", "only a mixture of experts")


def test_counted_only_switches_say_why_they_are_not_built():
    # each switch the decoder does not compute needs counted_only, which the builder refuses by
    for changes in ({"sub_norms": True},
                    # built on plain attention (DiffLlama's) only
                    {"differential_attention": True, "value_norm": True, "norm": "rmsnorm"},
                    # built on dense MLPs (Apertus's) only
                    {"activation": "xielu", "n_experts": 4, "experts_per_token": 2},
                    {"qk_norm": "scaled_clip"},
                    # built on plain attention (GPT-NeoX Japanese's) only
                    {"last_attn_out_bias": True, "bias": False,
                     "attention_pattern": ["local", "global"], "local_window": 4},
                    {"d_head_v": 8},
                    {"local_sinks": True, "attention_pattern": ["local", "global"],
                     "local_window": 4}, {"attention_head_gate": True},
                    {"dynamic_mask": True}, {"residual_scales": True},
                    {"attention_gate_bias": True, "attention_output_gate": True},
                    {"expert_output_norms": True, "n_experts": 4, "experts_per_token": 2},
                    {"attention_experts": True, "n_experts": 4, "experts_per_token": 2,
                     "n_kv_head": 2}):
        name = next(iter(changes))
        expect_error({**BASE, **changes}, name, "counted, not built")
        spec = spec_from_mapping({**BASE, **changes, "counted_only": "a test"})
        assert spec.counted_only == "a test"
    rotary = {**BASE, "position": "rotary", "d_head": 42, "rotary_fraction": 0.5}
    expect_error(rotary, "rotary_fraction", "even number")  # 21 dims: counted only
    assert spec_from_mapping({**rotary, "counted_only": "odd"}).rotary_dim == 21


def test_linear_attention_rules():
    linear = {"linear_n_k_head": 2, "linear_n_v_head": 4, "linear_d_head_k": 8,
              "linear_d_head_v": 8, "linear_conv_kernel": 4}
    expect_error({**BASE, **linear}, "linear_n_k_head",
                 "put `linear` or `kda` in attention_pattern")
    hybrid = {**BASE, **linear, "attention_pattern": ["linear", "global"]}
    expect_error({**hybrid, "linear_conv_kernel": None}, "linear_conv_kernel", "need")
    expect_error({**hybrid, "linear_n_v_head": 3}, "linear_n_v_head", "evenly")
    # Kimi Delta Attention: one head count and width for queries, keys and values
    kda = {**hybrid, "attention_pattern": ["kda", "global"], "counted_only": "kda"}
    expect_error(kda, "linear_n_v_head", "as many value heads as key heads")
    expect_error({**kda, "linear_n_v_head": 2, "linear_d_head_v": 16}, "linear_n_v_head",
                 "of the same width")
    assert spec_from_mapping({**kda, "linear_n_v_head": 2}).layer_kinds == ("kda", "global")


def test_nested_fields_are_checked():
    expect_error({**BASE, "reported": {"params": "lots", "source": "x"}}, "reported.params",
                 "parameter count")
    expect_error({**BASE, "reported": {"params": 5}}, "reported.source", "missing")
    expect_error({**BASE, "weights": {"hugging": "x"}}, "weights.hugging", "unknown field")


def test_not_a_mapping():
    with pytest.raises(SpecError, match="expected a mapping"):
        spec_from_mapping(["n_layer", 2], file="x.yaml")


def test_with_changes_validates():
    spec = spec_from_mapping(BASE)
    assert spec.with_changes(n_layer=3).n_layer == 3
    with pytest.raises(SpecError):
        spec.with_changes(n_head=7)


# --- property: any mapping gives a valid spec or a SpecError, never another exception -------

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True)
    | st.text(max_size=12) | st.sampled_from(["rotary", "local", "global", "1e-5", "117M",
                                             "swiglu", "parallel", "inf", "nan"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8) | st.sampled_from(["params", "source", "hf"]),
                      children, max_size=3),
    max_leaves=6)
KEYS = st.sampled_from([*SPEC_FIELDS, "reported", "weights"]) | st.text(max_size=10)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=12))
def test_random_mappings_never_crash(data):
    with contextlib.suppress(SpecError):
        spec_from_mapping(data, file="random.yaml")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([*SPEC_FIELDS, "reported", "weights", "bogus"]),
                          VALUES), min_size=1, max_size=4))
def test_mutated_valid_specs_never_crash(mutations):
    data = copy.deepcopy({**BASE, "reported": {"params": "1M", "source": "s"}})
    for key, value in mutations:
        if value is None and key in BASE:
            data.pop(key, None)
        else:
            data[key] = value
    try:
        spec = spec_from_mapping(data, file="mutated.yaml")
    except SpecError:
        return
    assert spec_from_mapping(to_mapping(spec)) == spec


# --- the 2024-2026 switches ---------------------------------------------------------------

ROTARY = {**BASE, "position": "rotary", "norm": "rmsnorm"}


@pytest.mark.parametrize(("changes", "field_name", "fragment"), [
    ({"rope_scaling": {"type": "llama3", "factor": 8}}, "rope_scaling",
     "llama3 scaling needs original_context, low_freq_factor, high_freq_factor"),
    ({"rope_scaling": {"type": "linear", "factor": 8, "beta_fast": 32}}, "rope_scaling",
     "beta_fast do not apply to linear scaling"),
    ({"rope_scaling": {"type": "ntk", "factor": 2}}, "rope_scaling.type", "one of linear"),
    ({"rope_scaling": {"type": "linear"}}, "rope_scaling.factor", "required field is missing"),
    ({"local_rope_theta": 10000.0}, "local_rope_theta", "no local layers"),
    ({"rotary_pattern": ["yes"]}, "rotary_pattern", "true or false"),
    ({"rotary_pattern": []}, "rotary_pattern", "a non-empty list"),
    ({"qk_norm": "layer"}, "qk_norm", "one of none, head, projection"),
    ({"norm": "layernorm", "qk_norm": "head"}, "qk_norm", "RMSNorm's"),
    ({"norm": "nonparametric_layernorm", "qk_norm": "head"}, "qk_norm", "RMSNorm's"),
    ({"qkv_clip": 0}, "qkv_clip", "> 0"),
    ({"norm_position": "sandwich", "block": "parallel"}, "block", "no sandwich-norm form"),
    ({"attn_softcap": 0}, "attn_softcap", "> 0"),
    ({"asserts": ["heads_are_even"]}, "asserts", "one of attention_width_is_d_model"),
])
def test_new_switches_are_validated(changes, field_name, fragment):
    expect_error({**ROTARY, **changes}, field_name, fragment)


def test_rope_scaling_round_trips_and_applies_only_to_rotary():
    spec = spec_from_mapping({**ROTARY, "rope_scaling": {
        "type": "yarn", "factor": 4, "original_context": 16, "truncate": False}})
    assert spec.rope_scaling.factor == 4.0 and spec.rope_scaling.truncate is False
    assert spec_from_mapping(to_mapping(spec)) == spec
    expect_error({**BASE, "rope_scaling": {"type": "linear", "factor": 2}}, "rope_scaling",
                 "only rotary positions take it")


def test_rotary_pattern_and_norms_per_layer():
    spec = spec_from_mapping({**ROTARY, "n_layer": 5, "rotary_pattern": [True, False],
                              "norm_position": "sandwich"})
    assert spec.layer_rotary == (True, False, True, False, True)
    assert spec.norms_per_layer == 4
    assert spec_from_mapping({**ROTARY, "norm_position": "output"}).norms_per_layer == 2


def test_hy_v4_mechanisms_under_latent_attention():
    """HY-V4's output gate and sinks under latent attention, its shared indexers and its
    independent hyper-connections are counted, not built; shared indexers need latent
    attention's indexer and an indexer of its own on the first layer, a hyper-connection form
    needs hyper_connections."""
    latent = {**BASE, "position": "rotary", "n_layer": 4, "d_head": 24, "d_head_rope": 8,
              "d_head_v": 16, "kv_lora_rank": 16, "q_lora_rank": 24, "indexer_heads": 2,
              "indexer_head_dim": 16, "indexer_topk": 4}
    for changes in ({"attention_output_gate": True}, {"attention_sinks": True},
                    {"indexer_pattern": [True, False]}):
        name = next(iter(changes))
        expect_error({**latent, **changes}, name, "counted, not built")
    expect_error({**latent, "indexer_pattern": [False, True], "counted_only": "a test"},
                 "indexer_pattern", "first layer")
    expect_error({**BASE, "indexer_pattern": [True, False], "counted_only": "a test"},
                 "indexer_pattern", "latent attention")
    expect_error({**BASE, "hyper_connection_form": "independent"}, "hyper_connection_form",
                 "needs hyper_connections")
    spec = spec_from_mapping({**latent, "indexer_pattern": [True, False, False],
                              "counted_only": "a test"})
    assert spec.layer_indexer_shared == (False, True, True, False)
