"""The decoder: counts equal the closed form, and logits equal transformers, family by family."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

import zoo
from tests.tiny import FAMILIES, hf_model, tiny_spec, zoo_from_hf
from zoo.model import ModelTooLargeError
from zoo.testing import batch, hf_positions_kwargs

pytest.importorskip("transformers")


@pytest.mark.parametrize("name", zoo.list_models())
def test_meta_count_equals_closed_form(name):
    model = zoo.create_model(name, device="meta")
    assert model.num_params() == zoo.count_params(name).total
    assert all(p.is_meta for p in model.parameters())


def test_classifier_head_is_counted():
    model = zoo.create_model("openai-gpt", device="meta", head="classify", num_labels=5)
    assert model.num_params() == zoo.count_params("openai-gpt", head="classify",
                                                  num_labels=5).total


@pytest.fixture(scope="module", params=list(FAMILIES))
def pair(request):
    spec = tiny_spec(request.param)
    hf = hf_model(spec)
    return request.param, spec, hf, zoo_from_hf(spec, hf)


def test_logits_equal_transformers(pair):
    label, spec, hf, model = pair
    ids, mask = batch(spec.vocab_size)
    with torch.no_grad():
        ours = model(ids)
        theirs = hf(ids).logits
        assert (ours - theirs).abs().max() <= 1e-4, label
        # right padding: real positions must agree
        ours = model(ids, attention_mask=mask)
        theirs = hf(ids, attention_mask=mask).logits
        real = mask.bool()
        assert (ours[real] - theirs[real]).abs().max() <= 1e-4, label
        # left padding: the same real tokens shifted right
        left = torch.zeros_like(mask)
        left_ids = torch.zeros_like(ids)
        for row in range(ids.shape[0]):
            n = int(mask[row].sum())
            left[row, -n:] = 1
            left_ids[row, -n:] = ids[row, :n]
        ours = model(left_ids, attention_mask=left)
        theirs = hf(left_ids, attention_mask=left, **hf_positions_kwargs(hf, left)).logits
        real = left.bool()
        assert (ours[real] - theirs[real]).abs().max() <= 1e-4, label


def test_loss_equals_transformers(pair):
    label, spec, hf, model = pair
    ids, mask = batch(spec.vocab_size, seed=2)
    with torch.no_grad():
        assert torch.allclose(model.loss(ids), hf(ids, labels=ids).loss, atol=1e-5), label
        labels = ids.masked_fill(mask == 0, -100)
        theirs = hf(ids, attention_mask=mask, labels=labels).loss
        assert torch.allclose(model.loss(ids, attention_mask=mask), theirs, atol=1e-5), label


def test_cache_gives_the_same_logits(pair):
    label, spec, _, model = pair
    ids, _ = batch(spec.vocab_size, seed=3)
    with torch.no_grad():
        full = model(ids)
        logits, cache = model(ids[:, :12], use_cache=True)
        steps = [logits]
        for t in range(12, ids.shape[1]):
            logits, cache = model(ids[:, t:t + 1], past_key_values=cache)
            steps.append(logits)
        assert (torch.cat(steps, 1) - full).abs().max() <= 1e-4, label


# --- GPT-3's banded layers against an explicit dense mask -----------------------------------

def reference_gpt3(model, ids):
    """GPT-3 written out with explicit (seq x seq) masks: softmax(QK^T/sqrt(d) + mask) V."""
    spec = model.spec
    seq = ids.shape[1]
    x = model.embed(ids) + model.positions(torch.arange(seq))
    i = torch.arange(seq)[:, None]
    j = torch.arange(seq)[None, :]
    for block, kind in zip(model.blocks, spec.layer_kinds, strict=True):
        allowed = (j <= i) & ((i - j < spec.local_window) if kind == "local" else True)
        h = block.norm1(x)
        q, k, v = block.attn.qkv(h).split([spec.q_dim, spec.kv_dim, spec.kv_dim], -1)
        heads = [t.view(1, seq, spec.n_head, spec.head_dim).transpose(1, 2) for t in (q, k, v)]
        scores = heads[0] @ heads[1].transpose(-1, -2) / spec.head_dim ** 0.5
        scores = scores.masked_fill(~allowed, float("-inf"))
        y = (scores.softmax(-1) @ heads[2]).transpose(1, 2).reshape(1, seq, spec.q_dim)
        x = x + block.attn.out(y)
        x = x + block.mlp(block.norm2(x))
    return model.head(model.final_norm(x))


@pytest.mark.parametrize("name", ["gpt3-125m", "gpt3-1.3b", "gpt3-13b"])
def test_gpt3_banded_layers_equal_explicit_mask(name):
    spec = zoo.get_spec(name)
    # tiny, keeping the row's shape: d_head stated, attention width != d_model where it is so
    ratio = spec.q_dim / spec.d_model
    tiny = spec.with_changes(n_layer=4, d_model=40, n_head=4, d_head=int(10 * ratio),
                             d_ff=160, vocab_size=50, context_length=48, local_window=5)
    model = zoo.create_model(tiny, seed=0).eval()
    assert model.num_params() == zoo.count_params(tiny).total
    ids = torch.randint(0, 50, (1, 30), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(ids)
        assert (ours - reference_gpt3(model, ids)).abs().max() <= 1e-5
        dense = zoo.create_model(tiny.with_changes(attention_pattern=["global"],
                                                   local_window=None))
        dense.load_state_dict(model.state_dict())
        assert (dense(ids) - ours).abs().max() > 1e-3, "the band must change the output"


# --- building ---------------------------------------------------------------------------------

def test_too_large_is_refused_before_allocation():
    with pytest.raises(ModelTooLargeError) as info:
        zoo.create_model("bloom-176b")
    message = str(info.value)
    assert "704,989,085,696 bytes" in message and "available" in message
    assert "device='meta'" in message and "ignore_memory_limit=True" in message


def test_dtype_and_seed():
    a = zoo.create_model(tiny_spec("llama"), dtype="bf16", seed=3)
    b = zoo.create_model(tiny_spec("llama"), dtype=torch.bfloat16, seed=3)
    assert a.embed.weight.dtype == torch.bfloat16
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    with pytest.raises(ValueError, match="unknown dtype"):
        zoo.create_model("gpt2", device="meta", dtype="fp8")


def test_tied_head_is_one_tensor():
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    assert model.head.weight is model.embed.weight
    untied = zoo.create_model(tiny_spec("gpt-j"), seed=0)
    assert untied.head.weight is not untied.embed.weight and untied.head.bias is not None


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_pools_only_real_tokens(pooling):
    model = zoo.create_model(tiny_spec("openai-gpt"), head="classify", num_labels=3,
                             pooling=pooling, seed=0).eval()
    ids = torch.randint(0, 97, (1, 10), generator=torch.Generator().manual_seed(0))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 10), torch.zeros(1, 5)], 1).long()
    with torch.no_grad():
        alone = model.classify(ids)
        assert alone.shape == (1, 3)
        assert torch.allclose(model.classify(padded, attention_mask=mask), alone, atol=1e-5)


def test_loss_with_explicit_targets():
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    ids = torch.randint(0, 97, (2, 9), generator=torch.Generator().manual_seed(0))
    staggered = torch.cat([ids[:, 1:], torch.full((2, 1), -100)], 1)
    assert torch.allclose(model.loss(ids, staggered), model.loss(ids))
    with pytest.raises(ValueError, match="shape of input_ids"):
        model.loss(ids, ids[:, 1:])


# --- scheduled sampling ---------------------------------------------------------------------

@contextmanager
def inputs_seen(model):
    """The ids each forward pass of `model` receives (the embedding's input), while open."""
    seen: list[torch.Tensor] = []
    hook = model.embed.register_forward_hook(lambda _m, args, _out: seen.append(args[0].clone()))
    try:
        yield seen
    finally:
        hook.remove()


def test_sampling_rate_zero_is_the_teacher_forced_loss(pair):
    label, spec, hf, model = pair
    ids, _ = batch(spec.vocab_size, seed=4)
    with torch.no_grad():
        teacher_forced = model.loss(ids)
        with inputs_seen(model) as seen:
            assert torch.equal(model.loss(ids, sampling_rate=0.0), teacher_forced), label
        assert len(seen) == 1 and torch.equal(seen[0], ids), "p = 0 runs one pass, on gold"
        assert torch.allclose(teacher_forced, hf(ids, labels=ids).loss, atol=1e-5), label


def test_sampling_rate_one_feeds_the_predictions():
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    ids, mask = batch(97, seed=5)
    with torch.no_grad():
        predicted = model(ids).argmax(-1)
        fed = torch.cat([ids[:, :1], predicted[:, :-1]], 1)  # input t = prediction from t-1
        gold = torch.cat([ids[:, 1:], torch.full((3, 1), -100)], 1)
        with inputs_seen(model) as seen:
            mixed_loss = model.loss(ids, sampling_rate=1.0)
    assert len(seen) == 2 and torch.equal(seen[0], ids) and torch.equal(seen[1], fed)
    assert (fed != ids).float().mean() > 0.9  # a random model rarely guesses the gold token
    assert torch.allclose(mixed_loss, model.loss(fed, gold)), "scored on the gold targets"
    assert not torch.allclose(mixed_loss, model.loss(ids))
    # padding stays padding, whatever the rate
    with torch.no_grad():
        padded = model.scheduled_inputs(ids, mask, rate=1.0)
    assert torch.equal(padded[mask == 0], ids[mask == 0])
    assert torch.equal(padded[mask == 1][1:], fed[mask == 1][1:])


def test_sampling_rate_replaces_that_share_of_inputs():
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    ids = torch.randint(0, 97, (8, 64), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        predicted = torch.cat([ids[:, :1], model(ids).argmax(-1)[:, :-1]], 1)
        mixed = model.scheduled_inputs(ids, rate=0.3, generator=torch.Generator().manual_seed(0))
        sampled = model.scheduled_inputs(ids, rate=1.0, prediction="sample",
                                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(mixed[:, 0], ids[:, 0]), "the first input is always gold"
    distinct = predicted[:, 1:] != ids[:, 1:]
    replaced = (mixed[:, 1:] == predicted[:, 1:]) & distinct
    assert torch.equal(mixed[:, 1:][~replaced], ids[:, 1:][~replaced])
    share = float(replaced.sum() / distinct.sum())
    assert 0.22 < share < 0.38, share  # 504 positions: 0.3 +- 4 standard deviations
    # sampling from a near-uniform random model rarely agrees with its argmax
    assert (sampled[:, 1:] != predicted[:, 1:]).float().mean() > 0.5


def test_scheduled_sampling_gradients_flow_through_the_second_pass():
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    ids, _ = batch(97, seed=7)
    model.loss(ids, sampling_rate=1.0).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    assert all(g is not None and g.abs().sum() > 0 and g.isfinite().all()
               for g in grads.values()), [n for n, g in grads.items() if not g.abs().sum()]
    model.zero_grad()
    with torch.no_grad():
        fed = torch.cat([ids[:, :1], model(ids).argmax(-1)[:, :-1]], 1)
    model.loss(fed, torch.cat([ids[:, 1:], torch.full((3, 1), -100)], 1)).backward()
    for name, p in model.named_parameters():  # the first pass adds nothing to the gradient
        assert torch.allclose(p.grad, grads[name], atol=1e-7), name


@pytest.mark.parametrize(("options", "fragment"), [
    ({"sampling_rate": 1.5}, "a probability in"),
    ({"sampling_rate": -0.1}, "a probability in"),
    ({"sampling_rate": 0.5, "prediction": "beam"}, "unknown prediction"),
])
def test_bad_scheduled_sampling_options(options, fragment):
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    with pytest.raises(ValueError, match=fragment):
        model.loss(torch.zeros(1, 4, dtype=torch.long), **options)


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda m: m(torch.tensor([[1, 2, 97]])), "outside tiny-gpt2's vocabulary of 97"),
    (lambda m: m(torch.tensor([1, 2])), "(batch, seq)"),
    (lambda m: m(torch.zeros(1, 65, dtype=torch.long)), "past tiny-gpt2's context of 64"),
    (lambda m: m(torch.zeros(1, 4, dtype=torch.long), attention_mask=torch.ones(1, 3)),
     "attention_mask must have shape"),
])
def test_bad_input_is_a_clear_error(call, fragment):
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call(model)


def test_gemma4_shared_layers_hold_no_cache():
    """Gemma 4's layers that share keys and values store none: the cache holds what the
    closed form says (global layers 32 wide with one kv head, local ones 16 wide with two), and
    each sharing layer attends to its maker's keys."""
    spec = tiny_spec("gemma4")
    model = zoo.create_model(spec, seed=0).eval()
    with torch.no_grad():
        _, cache = model(torch.randint(0, spec.vocab_size, (2, 5)), use_cache=True)
    assert [k is None for k in cache.keys] == [False, False, True, True]
    assert [tuple(k.shape[1::2]) for k in cache.keys[:2]] == [(2, 16), (1, 32)]
    assert cache.length == 5
    per_token = 4 * sum(k.shape[1] * k.shape[3] * 2 for k in cache.keys[:2])
    assert zoo.count_params(spec).kv_cache_bytes(1, "fp32") == per_token


@pytest.mark.parametrize(("family", "module", "cls"), [
    ("llama", "llama", "LlamaRMSNorm"), ("olmo2", "olmo2", "Olmo2RMSNorm"),
    ("olmo3", "olmo3", "Olmo3RMSNorm"), ("gpt-oss", "gpt_oss", "GptOssRMSNorm"),
    ("helium", "helium", "HeliumRMSNorm")])
def test_each_familys_rmsnorm_is_its_transformers_class_in_bf16(family, module, cls):
    """In bf16 the order of the weight and the cast back matters (LLaMA's: after; OLMo 2
    and 3's, gpt-oss's and Helium's: before, norm_fp32_scale): each family's norm gives its
    transformers class's bits."""
    import importlib

    from zoo.model.layers import make_norm

    spec = tiny_spec(family)
    theirs = getattr(importlib.import_module(f"transformers.models.{module}.modeling_{module}"),
                     cls)(spec.d_model, eps=spec.norm_eps).to(torch.bfloat16)
    ours = make_norm(spec).to(torch.bfloat16)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(spec.d_model, generator=generator) * 3)
        theirs.weight.copy_(ours.weight)
        x = (torch.randn(4, 9, spec.d_model, generator=generator) * 5).to(torch.bfloat16)
        assert torch.equal(ours(x), theirs(x)), family


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_is_transformers_arithmetic_to_the_bit(dtype):
    """zoo's RMSNorm writes mean(x^2) as sum / dim (fewer dispatches than F.rms_norm): the
    same bits as transformers' LlamaRMSNorm, Gemma's (1 + w) form and Helium's weight in fp32
    (norm_fp32_scale), and as F.rms_norm."""
    import torch.nn.functional as F

    from zoo.model.layers import RMSNorm

    generator = torch.Generator().manual_seed(0)
    for shape, scale in [((1, 1, 576), 1.0), ((2, 7, 64), 1e-3), ((3, 5, 4096), 1e3),
                         ((4, 640), 30.0)]:
        x = (torch.randn(shape, generator=generator) * scale).to(dtype)
        for unit_offset, fp32_scale in ((False, False), (True, False), (False, True)):
            norm = RMSNorm(shape[-1], 1e-6, unit_offset, fp32_scale=fp32_scale)
            with torch.no_grad():
                norm.weight.copy_(torch.randn(shape[-1], generator=generator).to(dtype))
                h = x.float()
                h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6)
                expected = (h * (1.0 + norm.weight.float())).to(dtype) if unit_offset \
                    else (norm.weight.float() * h).to(dtype) if fp32_scale \
                    else norm.weight * h.to(dtype)
                assert torch.equal(norm(x), expected), (shape, unit_offset, fp32_scale)
                if dtype == torch.float32 and not unit_offset:
                    assert torch.equal(norm(x), F.rms_norm(x, (shape[-1],), norm.weight, 1e-6))
        bare = RMSNorm(shape[-1], 1e-5, weight=False)
        assert torch.equal(bare(x), F.rms_norm(x.float(), (shape[-1],), None, 1e-5).to(dtype))
