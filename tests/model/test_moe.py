"""Mixtures of experts and latent attention: the active count is what a token touches, routing
follows the published rules, only chosen experts compute, the cache holds the latent, and the
full sizes build on meta at once."""

from __future__ import annotations

import time

import pytest
import torch

import zoo
from tests.tiny import FAMILIES, tiny_spec
from zoo.model.layers import Experts, MoE

# the tiny models with experts, whichever they are
MOE_FAMILIES = [label for label in FAMILIES if tiny_spec(label).n_experts]


@pytest.mark.parametrize("label", MOE_FAMILIES)
def test_active_count_is_what_one_token_touches(label):
    """Hook every router, run one token, and count the parameters it went through: everything
    outside the routed experts, plus the slices of the experts it was sent to."""
    spec = tiny_spec(label)
    model = zoo.create_model(spec, seed=0).eval()
    chosen: dict[str, set[int]] = {}

    def record(name: str):
        def hook(module, args, output):
            chosen[name] = set(output[0].flatten().tolist())
        return hook

    for name, module in model.named_modules():
        if isinstance(module, MoE):
            module.route = _wrap(module.route, record(name))
    with torch.no_grad():
        model(torch.tensor([[5]]))
    experts = {name: module for name, module in model.named_modules()
               if isinstance(module, Experts)}
    outside = sum(p.numel() for name, p in model.named_parameters()
                  if not any(name.startswith(f"{e}.") for e in experts))
    inside = sum(tensor[index].numel() for name, module in experts.items()
                 for index in chosen[name.removesuffix(".experts")]
                 for tensor in (module.fc_in, module.fc_out, module.fc_in_bias,
                                module.fc_out_bias) if tensor is not None)
    assert len(chosen) == sum(spec.layer_moe) and all(
        len(c) == spec.experts_per_token for c in chosen.values())
    count = zoo.count_params(spec)
    assert outside + inside == count.active
    assert count.active < count.total == model.num_params()


def _wrap(route, hook):
    def wrapped(x):
        out = route(x)
        hook(None, (x,), out)
        return out
    return wrapped


def test_only_chosen_experts_compute():
    spec = tiny_spec("mixtral").with_changes(n_experts=8, experts_per_token=1)
    model = zoo.create_model(spec, seed=0).eval()
    moe = model.blocks[0].mlp
    calls = []
    original = moe.experts.one
    moe.experts.one = lambda e, x: calls.append((e, len(x))) or original(e, x)
    with torch.no_grad():
        moe(torch.randn(1, 3, spec.d_model))
    assert sum(n for _, n in calls) == 3, "each token goes through one expert"
    assert len(calls) <= 3 < spec.n_experts


def test_routing_follows_the_rules():
    """DeepSeek's routing: the selection bias steers the choice but not the weights; only the
    best groups are eligible; the weights are renormalised, then scaled."""
    spec = tiny_spec("deepseek-v3")
    moe = zoo.create_model(spec, seed=0).blocks[1].mlp
    x = torch.randn(4, spec.d_model)
    with torch.no_grad():
        moe.routing_bias.zero_()
        index, weights = moe.route(x)
        assert torch.allclose(weights.sum(-1), torch.full((4,), spec.routed_scaling))
        moe.routing_bias[3] = 100.0  # expert 3 always chosen, its weight from its own score
        index, weights = moe.route(x)
        assert (index == 3).any(-1).all()
        scores = torch.sigmoid(x @ moe.router.weight.T)
        picked = scores.gather(1, index)
        assert torch.allclose(weights, spec.routed_scaling * picked / picked.sum(-1, keepdim=True))
        groups = index // (spec.n_experts // spec.expert_groups)
        assert all(len(set(g.tolist())) <= spec.expert_groups_per_token for g in groups)


def test_latent_cache_holds_the_latent():
    spec = tiny_spec("deepseek-v3")
    model = zoo.create_model(spec, seed=0).eval()
    with torch.no_grad():
        _, cache = model(torch.randint(0, 97, (2, 5)), use_cache=True)
    keys, values = cache.keys[0], cache.values[0]
    assert keys.shape[:2] == (2, 1) and keys.shape[-1] == spec.kv_lora_rank
    assert values.shape[:2] == (2, 1) and values.shape[-1] == spec.d_head_rope
    per_token = zoo.count_params(spec).kv_cache_bytes(1, "fp32")
    assert per_token == spec.n_layer * (spec.kv_lora_rank + spec.d_head_rope) * 4


@pytest.mark.parametrize("name", ["deepseek-v3", "qwen3-235b-a22b", "gpt-oss-120b",
                                  "mixtral-8x22b"])
def test_full_sizes_build_on_meta_at_once(name):
    start = time.perf_counter()
    model = zoo.create_model(name, device="meta")
    assert time.perf_counter() - start < 30, "a meta build allocates nothing"
    assert model.num_params() == zoo.count_params(name).total


def test_published_totals_and_actives():
    """Every MoE spec against its published total and active figures, under the convention
    each source states (research of the published configs, see the spec files)."""
    expected = {"mixtral-8x7b": (46_702_792_704, 12_879_925_248),
                "mixtral-8x22b": (140_620_634_112, 39_152_031_744),
                "qwen3-30b-a3b": (30_532_122_624, 3_353_032_704),
                "qwen3-235b-a22b": (235_093_634_560, 22_190_763_520),
                "deepseek-v3": (671_026_404_352, 36_625_603_584),
                "gpt-oss-20b": (20_914_757_184, 3_608_307_264),
                "gpt-oss-120b": (116_829_156_672, 5_132_849_472)}
    for name, (total, active) in expected.items():
        spec, count = zoo.get_spec(name), zoo.count_params(name)
        assert count.total == total, name
        assert count.active_by(spec.reported.active_convention) == active, name


def test_moe_schedule_shared_width_and_gate_counted_as_built():
    """Dense and MoE layers interleaved (Qwen2-MoE's decoder_sparse_step, Llama 4's
    interleaving), a shared expert of its own width behind a sigmoid gate: the closed form is
    the module, layer by layer."""
    spec = tiny_spec("mixtral").with_changes(
        n_layer=4, mlp_pattern=["dense", "moe"], n_shared_experts=1, d_ff_shared=40,
        shared_expert_gate=True)
    assert spec.layer_moe == (False, True, False, True)
    model = zoo.create_model(spec, seed=0)
    count = zoo.count_params(spec)
    assert count.total == model.num_params()
    for layer, block in zip(count.layers, model.blocks, strict=True):
        assert layer.total == sum(p.numel() for p in block.parameters())
    shared = model.blocks[1].mlp.shared
    assert shared.fc_out.in_features == 40 and model.blocks[1].mlp.shared_gate.weight.shape == (
        1, spec.d_model)
    assert count.shared_experts == 2 * (3 * spec.d_model * 40 + spec.d_model)
    with pytest.raises(zoo.SpecError, match="no layer of 4 is a mixture of experts"):
        spec.with_changes(mlp_pattern=["dense"])
    with pytest.raises(zoo.SpecError, match="only shared experts take it"):
        spec.with_changes(n_shared_experts=0)


def test_multipliers_scale_what_they_say():
    """Granite's embedding, residual and attention multipliers and the logits' scale (Command
    R's logit_scale): no parameters, and each scales what it names."""
    base = tiny_spec("llama")
    model = zoo.create_model(base, seed=0).eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    scaled = zoo.create_model(base.with_changes(logit_scale=0.5), seed=0).eval()
    with torch.no_grad():
        torch.testing.assert_close(scaled(ids), model(ids) * 0.5)
    granite = base.with_changes(embedding_multiplier=12.0, residual_multiplier=0.22,
                                attention_multiplier=0.0078125)
    assert zoo.count_params(granite).total == zoo.count_params(base).total
    other = zoo.create_model(granite, seed=0).eval()
    with torch.no_grad():
        assert not torch.allclose(other(ids), model(ids))
