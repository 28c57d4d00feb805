"""zoo's own CPU kernels (zoo.model.native): built on this machine, equal to the exact product
within fp32 accumulation, laid out so that their rows read back as the weights they hold, and
chosen like torch's; a build that fails says why once and leaves torch's kernels."""

from __future__ import annotations

import copy

import pytest
import torch

import zoo
from tests.tiny import tiny_spec
from zoo.model import kernels, native
from zoo.model.layers import Linear
from zoo.model.quantize import (
    PACKERS,
    ROWS_OF,
    PackedLinear,
    _int4_quantized,
    candidates,
    quantize,
)

CAN_BUILD = set(native.cpuinfo()[1].split()) >= set(native.REQUIRES) and \
    native._compiler() is not None
needs_build = pytest.mark.skipif(not CAN_BUILD, reason="this machine lacks AVX-512 (F, BW, "
                                 "BF16) or a C++ compiler: zoo's kernels are not built here")


def ops():
    built = native.ops()
    assert built is not None, native.state()  # a machine that can build them must
    return built


def within_accumulation(y: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> bool:
    """y equals x @ weight.T within the rounding of fp32 accumulation in another order."""
    exact = x.double() @ weight.double().t()
    bound = kernels.tolerance(x.double().abs() @ weight.double().abs().t(), x.shape[1],
                              torch.float32)
    return bool(((y.double() - exact).abs() <= bound).all())


@needs_build
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize(("out", "width"), [(37, 64), (37, 70), (37, 576), (1000, 200)])
def test_the_fp32_bf16_and_int8_kernels_equal_the_exact_product(rows, out, width, threads):
    """Whole tiles of 16 rows and a last partial one, K with and without a tail of lanes."""
    g = torch.Generator().manual_seed(rows * 1000 + width)
    weight = torch.randn(out, width, generator=g)
    x = torch.randn(rows, width, generator=g)
    y = ops().linear_f32(x, weight)
    assert y.shape == (rows, out) and within_accumulation(y, x, weight)
    half = weight.to(torch.bfloat16)  # the rows rounded to bf16, exact products in fp32
    assert within_accumulation(ops().linear_bf16(x, half), x.to(torch.bfloat16).float(),
                               half.float())
    codes = torch.randint(-127, 128, (out, width), dtype=torch.int8, generator=g)
    scale = torch.rand(out, generator=g).to(torch.bfloat16)
    dequantized = codes.float() * scale.float()[:, None]
    for given in (x, x.to(torch.bfloat16)):  # fp32 rows as they are; bf16 ones converted
        assert within_accumulation(ops().linear_int8(given, codes, scale), given.float(),
                                   dequantized)


def zoo_int4_layer(weight: torch.Tensor) -> PackedLinear:
    """A PackedLinear holding `weight` in zoo's int4 layout, whatever measuring would choose
    (only what ROWS_OF and the kernel read: the buffers and the width)."""
    layer = PackedLinear.__new__(PackedLinear)
    torch.nn.Module.__init__(layer)
    for name, tensor in PACKERS["zoo_int4"](weight, None).items():
        layer.register_buffer(name, tensor)
    layer.in_features = weight.shape[1]
    layer.packed = layer._buffers
    return layer


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request):
    """The kernels split a weight's rows over torch's threads (the suite's workers run one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@needs_build
@pytest.mark.parametrize(("rows", "out"), [(1, 48), (2, 48), (4, 48), (7, 48), (1, 1024)])
def test_the_int4_kernel_equals_the_exact_product_of_its_codes(rows, out, threads):
    g = torch.Generator().manual_seed(rows)
    weight = torch.randn(out, 192, generator=g)
    layer = zoo_int4_layer(weight)
    buffers = layer.packed
    dequantized = ROWS_OF["zoo_int4"](layer, torch.arange(out))
    x = torch.randn(rows, 192, generator=g)
    y = ops().linear_int4(x, buffers["weight"], buffers["scales"], buffers["zeros"])
    # the rows rounded to bf16 (the kernel's dot product), then exact products in fp32
    assert within_accumulation(y, x.to(torch.bfloat16).float(), dequantized)


def test_the_int4_layout_holds_the_codes_and_grid_torchs_does():
    """zoo's layout and torch's int4pack hold the very same weights: the rows read back from
    each are equal, and equal to the quantized weight."""
    weight = torch.randn(64, 128, generator=torch.Generator().manual_seed(3))
    mine = zoo_int4_layer(weight)
    theirs = PackedLinear("int4", weight, None)
    assert theirs.kernel == "int4pack"  # measuring is off in tests: torch's
    index = torch.tensor([0, 5, 63])
    codes, grid = _int4_quantized(weight, None)
    step, zero = grid.float().unbind(-1)
    expected = ((codes.view(64, -1, 32) - 8) * step[..., None] + zero[..., None]).view(64, 128)
    assert torch.equal(ROWS_OF["zoo_int4"](mine, index), expected[index])
    assert torch.equal(ROWS_OF["zoo_int4"](mine, index), theirs.rows(index))


@needs_build
def test_bad_operands_are_refused_by_name():
    with pytest.raises(RuntimeError, match="linear_f32: x must be fp32"):
        ops().linear_f32(torch.ones(1, 8, dtype=torch.bfloat16), torch.ones(4, 8))
    with pytest.raises(RuntimeError, match=r"linear_int8: the codes must be contiguous \[4, 8\]"):
        ops().linear_int8(torch.ones(1, 8), torch.ones(4, 8), torch.ones(4, dtype=torch.bfloat16))
    with pytest.raises(RuntimeError, match="linear_int4: the inputs must be a multiple of 64 "
                       "and the outputs of 16, got 32 and 4"):
        ops().linear_int4(torch.ones(1, 32), torch.zeros(4, 16, dtype=torch.uint8),
                          torch.ones(4, 1, dtype=torch.bfloat16),
                          torch.ones(4, 1, dtype=torch.bfloat16))
    with pytest.raises(RuntimeError, match=r"x must be floating-point \(rows, 8\)"):
        ops().linear_f32(torch.ones(1, 9), torch.ones(4, 8))


@needs_build
@pytest.mark.parametrize(("mode", "theirs", "mine"), [("int4", "int4pack", "zoo_int4"),
                                                      ("int8", "int8pack", "zoo_int8"),
                                                      ("bf16", "dense_bf16", "zoo_bf16")])
def test_a_model_on_zoos_kernels_computes_what_it_does_on_torchs(mode, theirs, mine):
    """The same codes through either kernel: logits apart by torch's bf16 rounding at most
    (zoo's int8 kernel reads the fp32 activations as they are), and the cached steps give the
    tokens of the full recompute."""
    model = zoo.create_model(tiny_spec("llama-gqa"), seed=0).eval()
    ids = torch.randint(0, model.spec.vocab_size, (2, 9),
                        generator=torch.Generator().manual_seed(1))
    logits = {}
    for kernel in (theirs, mine):
        with kernels.forcing(kernel):
            packed = quantize(copy.deepcopy(model), mode)
        with torch.no_grad():
            logits[kernel] = packed(ids)
        assert kernel in kernels.summary(packed.modules())["kernel"]
        cached = packed.generate(ids, max_new_tokens=8)
        assert torch.equal(cached, packed.generate(ids, max_new_tokens=8, use_cache=False))
    error = float((logits[mine] - logits[theirs]).norm() / logits[theirs].norm())
    assert error < 0.01, error


@needs_build
def test_a_bf16_model_on_zoos_kernel_computes_what_it_does_on_torchs():
    model = zoo.create_model(tiny_spec("llama-gqa"), seed=0).eval().to(torch.bfloat16)
    eager = copy.deepcopy(model)
    ids = torch.randint(0, model.spec.vocab_size, (1, 1),
                        generator=torch.Generator().manual_seed(3))
    with kernels.forcing("zoo_bf16"), torch.no_grad():
        got = model(ids)  # one row: zoo's kernel
    assert set(kernels.summary(model.modules())["kernel"]) == {"zoo_bf16"}
    with torch.no_grad():
        expected = eager(ids)
    assert got.dtype == torch.bfloat16
    assert float((got.float() - expected.float()).norm() / expected.float().norm()) < 0.01


@needs_build
def test_fp32_decoding_on_zoos_kernel_keeps_the_eager_greedy_tokens():
    model = zoo.create_model(tiny_spec("llama-gqa"), seed=0).eval()
    eager = copy.deepcopy(model)
    for layer in eager.modules():
        if isinstance(layer, Linear):
            layer._kernel = (torch.float32, "linear")  # F.linear throughout
    ids = torch.randint(0, model.spec.vocab_size, (2, 6),
                        generator=torch.Generator().manual_seed(2))
    with kernels.forcing("zoo_fp32"):
        tokens = model.generate(ids, max_new_tokens=16)
    assert set(kernels.summary(model.modules())["kernel"]) - set(kernels.FUSED) == {"zoo_fp32"}
    assert torch.equal(tokens, eager.generate(ids, max_new_tokens=16))
    with torch.no_grad():  # a prompt (more than four rows) goes to oneDNN's kernel
        assert torch.allclose(model(ids), eager(ids), atol=1e-5, rtol=1e-5)


def test_a_failed_build_says_why_once_and_is_not_retried(tmp_path, monkeypatch):
    if not CAN_BUILD:
        pytest.skip("nothing is built on this machine")
    broken = tmp_path / "native.cpp"
    broken.write_text("this is not C++\n")
    monkeypatch.setattr(native, "SOURCE", broken)
    monkeypatch.setenv("ZOO_NATIVE_CACHE", str(tmp_path / "cache" / "zoo" / "native"))
    library, why = native._build()
    assert library is None and why.startswith("its build failed: see ")
    failed = next((tmp_path / "cache" / "zoo" / "native").glob("*.failed"))
    assert "error" in failed.read_text()
    def compile_again(*args):
        raise AssertionError("the failed build was tried again")
    monkeypatch.setattr(native, "_command", compile_again)
    library, why = native._build()
    assert library is None and why == f"its build failed before: see {failed}"
    assert not list((tmp_path / "cache" / "zoo" / "native").glob(".build-*"))  # no leftovers


def test_a_new_build_deletes_only_zoos_own_builds_unused_for_a_month(tmp_path):
    import os
    import time

    month_ago = time.time() - (native.UNUSED_DAYS + 1) * 86400
    files = {name: tmp_path / name for name in (
        "zoo-0123456789abcdef.so", "zoo-0123456789abcdef.failed",  # a month unused: deleted
        "zoo-fedcba9876543210.so",  # loaded yesterday: kept
        "zoo-1111111111111111.so",  # the new build: kept
        "notes.so", "zoo-0123.so")}  # not zoo's builds: kept
    for path in files.values():
        path.write_bytes(b"")
        os.utime(path, (month_ago, month_ago))
    day_ago = time.time() - 86400
    os.utime(files["zoo-fedcba9876543210.so"], (day_ago, day_ago))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not zoo's")
    link = tmp_path / "zoo-2222222222222222.so"
    link.symlink_to(elsewhere)  # a link in its place is not followed, nor deleted
    os.utime(link, (month_ago, month_ago), follow_symlinks=False)
    native._prune(tmp_path, files["zoo-1111111111111111.so"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "elsewhere", "notes.so", "zoo-0123.so", "zoo-1111111111111111.so",
        "zoo-2222222222222222.so", "zoo-fedcba9876543210.so"]
    assert elsewhere.read_bytes() == b"not zoo's"


def test_nothing_is_built_when_measuring_is_off_or_zoo_native_is_off(monkeypatch):
    monkeypatch.setenv("ZOO_AUTOTUNE", "0")
    assert "zoo_int4" not in candidates("int4", 64, 128)
    monkeypatch.setenv("ZOO_AUTOTUNE", "1")
    monkeypatch.setenv("ZOO_NATIVE", "0")
    native._load.cache_clear()
    try:
        assert native.ops() is None
        assert native._load()[1] == "ZOO_NATIVE is off" and native.build() is None
        assert candidates("int4", 64, 128) == ["int4pack"]
    finally:
        native._load.cache_clear()


@needs_build
def test_measuring_offers_zoos_kernels_beside_torchs(monkeypatch):
    monkeypatch.setenv("ZOO_AUTOTUNE", "1")
    assert candidates("int4", 64, 128) == ["int4pack", "zoo_int4"]
    assert candidates("int4", 64, 96) == ["int4pack"]  # zoo's layout holds 64 inputs a block
    assert candidates("int8", 64, 128)[-1] == "zoo_int8"


@needs_build
@pytest.mark.parametrize("form", ["weight", "unit_offset", "fp32_scale", "none"])
def test_the_rms_norm_kernel_is_each_form_of_rmsnorm_in_fp32(form):
    from zoo.model.layers import RMSNorm

    norm = RMSNorm(70, 1e-5, unit_offset=form == "unit_offset", weight=form != "none",
                   fp32_scale=form == "fp32_scale")
    if norm.weight is not None:
        norm.weight.data = torch.randn(70, generator=torch.Generator().manual_seed(4))
    x = torch.randn(3, 5, 70, generator=torch.Generator().manual_seed(5)) * 3
    with torch.no_grad():
        expected = norm(x)
        norm.fused = True
        got = norm(x)
        assert norm.kernel_choice()[0] == "zoo_rms_norm"
        # rounding only: the sum of squares in another order, one rsqrt
        assert torch.allclose(got, expected, rtol=4e-6, atol=1e-7)
        half = norm(x.to(torch.bfloat16))  # not fp32: torch's ops, as without the kernel
        norm.fused = False
        assert torch.equal(half, norm(x.to(torch.bfloat16)))
    with torch.enable_grad():  # training takes torch's ops, which autograd follows
        assert norm(x.requires_grad_()).grad_fn is not None


@needs_build
def test_a_model_laid_out_with_zoos_kernels_fuses_its_fp32_norms_only():
    model = zoo.create_model(tiny_spec("llama-gqa"), seed=0).eval()
    eager = copy.deepcopy(model)
    ids = torch.randint(0, model.spec.vocab_size, (2, 6),
                        generator=torch.Generator().manual_seed(2))
    with kernels.forcing("zoo_rms_norm"):
        tokens = model.generate(ids, max_new_tokens=16)
    used = kernels.summary(model.modules())["kernel"]
    assert used["zoo_rms_norm"] == 2 * model.spec.n_layer + 1
    assert torch.equal(tokens, eager.generate(ids, max_new_tokens=16))
    bf16 = copy.deepcopy(eager).to(torch.bfloat16)
    with kernels.forcing("zoo_rms_norm"), torch.no_grad():
        bf16(ids)
    assert "zoo_rms_norm" not in kernels.summary(bf16.modules())["kernel"]  # fp32 only


ONE_CALL = ("zoo_attention", "zoo_rms_norm", "zoo_fp32")  # the layers' one-call forms


def decode_alike(model, other, mine: tuple[str, ...], theirs: tuple[str, ...],
                 batch: int = 2, steps: int = 7) -> None:
    """Decode with `model` (kernels `mine` forced at its first call) and `other` (`theirs`):
    the logits of each step within fp32 rounding, the caches' contents the same numbers."""
    ids = torch.randint(0, model.spec.vocab_size, (batch, 5),
                        generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        with kernels.forcing(*mine):
            logits, cache = model(ids, use_cache=True)
        with kernels.forcing(*theirs):
            expected, reference = other(ids, use_cache=True)
        for _ in range(steps):  # the first cache holds 5 positions: it grows twice
            token = expected[:, -1:].argmax(-1)
            logits, cache = model(token, past_key_values=cache, use_cache=True)
            expected, reference = other(token, past_key_values=reference, use_cache=True)
            assert torch.allclose(logits, expected, atol=1e-5, rtol=1e-4)
    assert cache.lengths == reference.lengths
    for mine_, theirs_ in zip(cache.keys + cache.values, reference.keys + reference.values,
                              strict=True):
        if mine_ is not None:
            end = cache.length
            assert torch.allclose(mine_[:, :, :end], theirs_[:, :, :end], atol=1e-5, rtol=1e-4)


def decode_both(model, unfused, kernel: str = "zoo_fp32", mode: str | None = None,
                batch: int = 2, steps: int = 7):
    """decode_alike, `model` laid out with zoo's block step and `unfused` (a copy) without
    it, each projection on `kernel` (packed in `mode` first, if any); how many blocks were
    laid out with the step."""
    if mode is not None:
        for m in (model, unfused):
            with kernels.forcing(kernel):
                quantize(m, mode)
    decode_alike(model, unfused, ("zoo_block", kernel, *ONE_CALL), (kernel, *ONE_CALL),
                 batch, steps)
    assert "zoo_block" not in kernels.summary(unfused.modules())["kernel"]
    return kernels.summary(model.modules())["kernel"].get("zoo_block", 0)


@needs_build
@pytest.mark.parametrize("label", ["llama-gqa", "gpt-j", "phi", "gpt2", "phi3", "mixtral",
                                   "qwen3"])
def test_the_fused_decoding_step_computes_what_the_layers_do(label):
    """Each step of a fused layer (rotary half or interleaved, partial, none; grouped queries;
    a cache that grows) gives the logits of the unfused one within fp32 rounding, and the
    cached keys and values are the very same numbers; a padded batch (a mask) is unfused."""
    from zoo.model.attention import Attention

    model = zoo.create_model(tiny_spec(label), seed=0).eval()
    eager = copy.deepcopy(model)
    decode_alike(model, eager, ("zoo_attention",), ())
    assert all(m.fused for m in model.modules() if isinstance(m, Attention))
    ids = torch.randint(0, model.spec.vocab_size, (2, 5),
                        generator=torch.Generator().manual_seed(4))
    assert "zoo_attention" in kernels.summary(model.modules())["kernel"]
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    with torch.no_grad():
        assert torch.allclose(model.generate(ids, attention_mask=mask, max_new_tokens=4),
                              eager.generate(ids, attention_mask=mask, max_new_tokens=4))


@needs_build
def test_the_fused_step_refuses_a_cache_that_does_not_match():
    qkv = torch.zeros(1, 1, 6 * 8)
    cache = torch.zeros(1, 2, 4, 8)
    with pytest.raises(RuntimeError, match=r"decode_attention: qkv .* does not match 3 heads"):
        ops().decode_attention(qkv, None, None, cache, cache.clone(), 4, 3, False, 1.0, None,
                               None, 1e-6, 0.0)
    with pytest.raises(RuntimeError, match="the caches must be contiguous"):
        ops().decode_attention(qkv, None, None, cache.transpose(1, 2), cache, 0, 2, False, 1.0,
                               None, None, 1e-6, 0.0)
    with pytest.raises(RuntimeError, match="a QK norm needs both q_norm and k_norm"):
        ops().decode_attention(qkv, None, None, cache, cache.clone(), 0, 2, False, 1.0,
                               torch.ones(8), None, 1e-6, 0.0)


@pytest.fixture
def block_steps(monkeypatch):
    """How many decoding steps ran as one call of a whole block; measuring off, so that only
    the kernels forced run (else the unfused model would be laid out with the block step)."""
    from zoo.model.decoder import Block

    monkeypatch.setenv("ZOO_AUTOTUNE", "0")

    ran, real = [], Block._fused_step
    monkeypatch.setattr(Block, "_fused_step", lambda self, *a: ran.append(1) or real(self, *a))
    return ran


@needs_build
@pytest.mark.parametrize(("label", "mode", "kernel"), [
    ("llama-gqa", None, "zoo_fp32"), ("gemma", None, "zoo_fp32"), ("helium", None, "zoo_fp32"),
    ("qwen2", None, "zoo_fp32"), ("qwen3", None, "zoo_fp32"), ("gemma3", None, "zoo_fp32"),
    ("gpt2", None, "zoo_fp32"), ("opt", None, "zoo_fp32"), ("starcoder2", None, "zoo_fp32"),
    ("gpt-bigcode", None, "zoo_fp32"), ("gpt-j", None, "zoo_fp32"), ("phi", None, "zoo_fp32"),
    ("gpt-neox", None, "zoo_fp32"), ("falcon-7b", None, "zoo_fp32"),
    ("qwen2", None, "linear"), ("gpt2", None, "linear_t"),
    ("llama-gqa", None, "onednn"), ("smollm2", "int4", "zoo_int4"),
    ("smollm2", "int4", "int4pack"), ("gemma3", "int4", "zoo_int4"),
    ("llama-gqa", "int8", "zoo_int8"), ("llama-gqa", "int8", "int8pack"),
    ("llama-gqa", "bf16", "zoo_bf16"), ("llama-gqa", "bf16", "dense_bf16"),
    ("llama-gqa", "bf16", "dense_bf16_t"), ("llama-gqa", "bf16", "onednn_bf16")])
def test_the_block_step_computes_what_the_layers_do(label, mode, kernel, block_steps):
    """A block's decoding step in one call gives what its layers give one call each: RMSNorms
    (Gemma's offset) or LayerNorms, before each sublayer or around it (Gemma 3's sandwich),
    or sublayers side by side (GPT-J's one norm, GPT-NeoX's two); SwiGLU, GeGLU, GELU (tanh
    or erf) or ReLU; grouped or one key head, a QK norm per head, biases, learned positions or
    rotary (Gemma 3's two tables); the projections on each kernel measuring may choose (fp32:
    zoo's, F.linear over either layout, oneDNN's; each packing's)."""
    model = zoo.create_model(tiny_spec(label), seed=0).eval()
    assert decode_both(model, copy.deepcopy(model), kernel, mode) == model.spec.n_layer
    assert {k for b in model.blocks for k in b._plan.kernels} == {kernel}
    spec = model.spec
    if spec.local_window is None:
        assert len(block_steps) == 7 * spec.n_layer
    else:  # a sliding window of 8: past it, a local layer's step has a mask, and is unfused
        assert 0 < len(block_steps) < 7 * spec.n_layer


@needs_build
@pytest.mark.parametrize(("label", "why"), [
    ("mixtral", "experts"),
    ("granite", "residual multiplier"), ("olmo2", "norms on the outputs only"),
    ("olmo", "a LayerNorm without parameters"), ("gemma2", "soft-capped scores"),
    ("cohere", "a LayerNorm per head"), ("arcee", "squared ReLU")])
def test_a_block_the_step_does_not_cover_runs_its_layers(label, why, block_steps):
    model = zoo.create_model(tiny_spec(label), seed=0).eval()
    assert decode_both(model, copy.deepcopy(model), steps=2) == 0, why
    assert block_steps == []


@needs_build
def test_the_block_step_runs_only_where_it_runs_each_projections_kernel(block_steps):
    """A projection on a kernel the step lacks (int8 codes as two 4-bit planes), or a batch
    wider than the matrix-vector kernels take: the layers run one call each, as unfused."""
    model = zoo.create_model(tiny_spec("llama-gqa"), seed=0).eval()
    assert decode_both(model, copy.deepcopy(model), "int4pack_planes", "int8", steps=2) == 0
    assert block_steps == []
    wide = zoo.create_model(tiny_spec("llama-gqa"), seed=0).eval()
    assert decode_both(wide, copy.deepcopy(wide), batch=5, steps=2) == wide.spec.n_layer
    assert block_steps == []  # laid out fused, but five rows are a prompt's kernels


@needs_build
def test_a_block_laid_out_then_quantized_steps_on_its_packed_layers(block_steps):
    """zoo.quantize replaces a laid-out block's projections: its step reads the packed ones,
    as a model packed before its first call does."""
    model = zoo.create_model(tiny_spec("llama-gqa"), seed=0).eval()
    packed_first = copy.deepcopy(model)
    ids = torch.randint(0, model.spec.vocab_size, (1, 4),
                        generator=torch.Generator().manual_seed(6))
    with kernels.forcing("zoo_block", "zoo_int8", *ONE_CALL):
        model.generate(ids, max_new_tokens=2)  # laid out: every block's step in fp32
        quantize(model, "int8")
        quantize(packed_first, "int8")
        tokens = model.generate(ids, max_new_tokens=6)
        assert torch.equal(tokens, packed_first.generate(ids, max_new_tokens=6))
    plans = [block._plan for block in model.blocks]
    assert all(plan is not None and plan.kernels == ["zoo_int8"] * 4 for plan in plans)
    assert len(block_steps) == (1 + 5 + 5) * model.spec.n_layer  # every decoding step


@needs_build
def test_beam_search_on_the_block_step_finds_the_beams_the_layers_find(block_steps):
    """Three beams (three rows, reordered in the cache after each step) of a sandwich block
    with a sliding window, one call a step, as one call a layer finds them."""
    model = zoo.create_model(tiny_spec("gemma3"), seed=0).eval()
    eager = copy.deepcopy(model)
    ids = torch.randint(0, model.spec.vocab_size, (1, 4),
                        generator=torch.Generator().manual_seed(1))
    with kernels.forcing("zoo_block", *ONE_CALL):
        beams = model.generate(ids, max_new_tokens=8, num_beams=3)
    assert block_steps
    with kernels.forcing(*ONE_CALL):
        assert torch.equal(beams, eager.generate(ids, max_new_tokens=8, num_beams=3))


@needs_build
def test_the_block_step_refuses_kernels_and_activations_it_lacks():
    x, qkv, cache = torch.zeros(1, 1, 8), torch.zeros(24, 8), torch.zeros(1, 1, 4, 8)
    tensors = [qkv, None, None, None, torch.zeros(8, 8), None, None, None,
               torch.zeros(16, 8), None, None, None, torch.zeros(8, 8), None, None, None]

    def step(kernel: str = "zoo_fp32", activation: str = "swiglu", norm: str = "rms",
             arrangement: str = "pre"):
        return ops().decode_block(x, norm, [None] * 8, 1e-6, 0.0, arrangement,
                                  [kernel] + ["zoo_fp32"] * 3, tensors, None, None, cache,
                                  cache.clone(), 0, 1, False, 1.0, None, None, 1e-6, 0.0,
                                  activation)

    assert step().shape == (1, 1, 8)
    with pytest.raises(RuntimeError, match="decode_block: no kernel int4pack_planes"):
        step(kernel="int4pack_planes")
    with pytest.raises(RuntimeError, match="decode_block: zoo_int8 lacks its tensor 1"):
        step(kernel="zoo_int8")
    with pytest.raises(RuntimeError, match="decode_block: no activation relu2"):
        step(activation="relu2")
    with pytest.raises(RuntimeError, match="decode_block: no norm batch"):
        step(norm="batch")
    with pytest.raises(RuntimeError, match="decode_block: no arrangement post"):
        step(arrangement="post")


@needs_build
def test_a_choice_measured_on_another_build_of_zoos_kernels_is_measured_again(monkeypatch,
                                                                              tmp_path):
    monkeypatch.setenv("ZOO_AUTOTUNE", "1")
    monkeypatch.setenv("ZOO_KERNEL_CACHE", str(tmp_path / "kernels.json"))
    monkeypatch.setattr(kernels, "MIN_RUNS", 1)
    monkeypatch.setattr(kernels, "BUDGET", 1e-4)
    kernels.reset_memory()
    timed, real = [], kernels._timed
    monkeypatch.setattr(kernels, "_timed", lambda runs: timed.append(sorted(runs)) or real(runs))
    weight = torch.randn(64, 128, generator=torch.Generator().manual_seed(6))
    try:
        PackedLinear("int4", weight, None)
        PackedLinear("int4", weight, None)  # read back: measured once
        assert timed == [["int4pack", "zoo_int4"]]
        monkeypatch.setattr(native, "build", lambda: "zoo-0000000000000000")
        PackedLinear("int4", weight, None)  # zoo's kernels rebuilt: measured again
        assert len(timed) == 2
    finally:
        kernels.reset_memory()


def test_a_link_planted_as_the_build_lock_is_not_followed(tmp_path, monkeypatch):
    if not CAN_BUILD:
        pytest.skip("nothing is built on this machine")
    folder = tmp_path / "cache"
    folder.mkdir()
    target = tmp_path / "elsewhere"
    (folder / ".build.lock").symlink_to(target)
    monkeypatch.setenv("ZOO_NATIVE_CACHE", str(folder))
    library, why = native._build()
    assert library is None and why.startswith(f"cannot build in {folder}")
    assert not target.exists()
