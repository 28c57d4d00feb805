"""Weights packed for CPU inference (zoo.quantize): every family still computes its logits,
the KV cache path agrees with the full recompute, the kernels' shape limits fall back, and
what cannot work is refused with a clear error. The real SmolLM2 keeps its answer."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import zoo
from tests.tiny import tiny_spec
from zoo.model.layers import Linear
from zoo.model.quantize import MODES, PackedLinear, choose, int4_grid, packed_bytes, quantize
from zoo.units import QUANTIZATIONS

# relative error of the logits of random tiny models (measured at most 0.010, 0.024 and 0.29,
# the int4 extremes from the models that normalise each sublayer's output, Gemma 3 and OLMo 2;
# a weight packed in the wrong layout gives about 1.4)
TOLERANCE = {"bf16": 0.02, "int8": 0.05, "int4": 0.4}
FAMILIES = ["gpt2", "llama-gqa", "qwen3", "gemma3", "olmo2", "phi3", "mixtral", "deepseek-v3",
            "gpt-oss"]


def tiny(label: str) -> zoo.Model:
    return zoo.create_model(tiny_spec(label), seed=0).eval()


def test_the_modes_are_the_names_the_cli_offers():
    assert tuple(MODES) == QUANTIZATIONS


@pytest.mark.parametrize("mode", QUANTIZATIONS)
@pytest.mark.parametrize("label", FAMILIES)
def test_quantized_logits_stay_close(label, mode):
    model = tiny(label)
    ids = torch.randint(0, model.spec.vocab_size, (2, 12),
                        generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(ids)
        packed = quantize(copy.deepcopy(model), mode)
        got = packed(ids)
    assert packed.quantized == mode
    assert any(isinstance(m, PackedLinear) for m in packed.modules())
    assert got.dtype == expected.dtype
    error = float((got - expected).norm() / expected.norm())
    assert error < TOLERANCE[mode], f"{label} {mode}: relative error {error:.3f}"


@pytest.mark.parametrize("onednn", [True, False])
def test_bf16_packs_whichever_kernel_this_cpu_runs(monkeypatch, onednn):
    """oneDNN's bf16 kernel needs AVX-512 (or AVX-NE-CONVERT); on a CPU without it the weights
    stay a plain bf16 matrix, with the same products."""
    import zoo.model.quantize as packing

    if onednn and not packing._onednn_bf16():
        pytest.skip("this CPU does not run oneDNN's bf16 kernel")
    monkeypatch.setattr(packing, "_onednn_bf16", lambda: onednn)
    monkeypatch.setenv("ZOO_AUTOTUNE", "0")  # the fixed packing, even where the suite measures
    model = tiny("llama-gqa")
    ids = torch.randint(0, model.spec.vocab_size, (2, 12),
                        generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(ids)
        packed = quantize(copy.deepcopy(model), "bf16")
        got = packed(ids)
    kernels = {m.kernel for m in packed.modules() if isinstance(m, PackedLinear)}
    assert kernels == {"onednn_bf16" if onednn else "dense_bf16"}
    error = float((got - expected).norm() / expected.norm())
    assert error < TOLERANCE["bf16"], f"relative error {error:.3f}"


@pytest.mark.parametrize("mode", QUANTIZATIONS)
def test_the_cached_steps_equal_the_full_recompute(mode):
    model = quantize(tiny("llama-gqa"), mode)
    ids = torch.randint(0, model.spec.vocab_size, (2, 7),
                        generator=torch.Generator().manual_seed(2))
    cached = model.generate(ids, max_new_tokens=10)
    recomputed = model.generate(ids, max_new_tokens=10, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_int4_keeps_a_given_grid_exactly_and_spans_min_and_max_otherwise():
    generator = torch.Generator().manual_seed(3)
    codes = torch.randint(0, 16, (32, 64), generator=generator)
    codes.view(32, 2, 32)[..., 0], codes.view(32, 2, 32)[..., 1] = 0, 15
    scale = 2.0 ** -torch.randint(3, 8, (32, 2, 1), generator=generator)
    weight = ((codes.view(32, 2, 32) - 8) * scale + 0.25).view(32, 64)
    eye = torch.eye(64)
    layer = PackedLinear("int4", weight, None)  # the grid that spans each group
    assert torch.equal(layer(eye).t(), weight)
    grid = int4_grid(weight)
    assert torch.equal(grid[..., 0], scale[..., 0])
    assert torch.equal(PackedLinear("int4", weight, None, grid)(eye).t(), weight)
    off = grid.clone()
    off[..., 1] += scale[..., 0] / 2  # a grid the weights are not on
    assert not torch.equal(PackedLinear("int4", weight, None, off)(eye).t(), weight)


def test_int8_is_per_output_channel_in_either_kernel(monkeypatch):
    monkeypatch.setenv("ZOO_AUTOTUNE", "0")  # each kernel as the fixed choice names it
    weight = torch.linspace(-1, 1, 48 * 48).view(48, 48) * torch.arange(1, 49)[:, None]
    rows = PackedLinear("int8", weight, torch.ones(48))  # 32 does not divide 48: int8pack
    assert rows.kernel == "int8pack"
    assert rows.weight.dtype == torch.int8 and rows.scales.shape == (48,)
    # each row within half its own step (a scale per tensor would give row 1 48 times its)
    step = weight.abs().amax(1) / 127
    assert ((rows.dequantized() - weight).abs().amax(1) <= 0.51 * step).all()
    x = torch.randn(3, 48, generator=torch.Generator().manual_seed(0))
    expected = x @ weight.t() + 1  # bf16 activations: about 0.3% here
    assert float((rows(x) - expected).norm() / expected.norm()) < 0.01
    # where the int4 kernel takes the shape, the same codes in two 4-bit planes
    planes = PackedLinear("int8", weight[:, :32], None)
    assert planes.kernel == "int4pack_planes" and planes.mode == "int8"
    codes = PackedLinear("int8", torch.cat([weight[:, :32], torch.zeros(48, 16)], 1), None)
    exact = codes.weight[:, :32].float() * codes.scales.float()[:, None]
    with torch.no_grad():
        got = planes(torch.eye(32)).t()
    assert float((got - exact).abs().max()) <= 2 ** -8 * float(exact.abs().max())


def test_shapes_a_kernel_cannot_take_fall_back():
    assert choose("int4", 96, 64) == "int4"
    assert choose("int4", 100, 64) == "int8"  # int4 needs 16 | out
    assert choose("int4", 96, 48) == "int8"  # and 32 | in
    assert choose("int8", 96, 40) == "bf16"  # int8 needs 16 | in
    model = quantize(tiny("llama-gqa"), "int4")
    assert model.packed_modes["blocks.0.attn.qkv"] == "int4"
    assert model.packed_modes["head"] == "int8"  # 4-bit logits would change the argmax
    fp32 = packed_bytes(tiny("llama-gqa"))
    assert packed_bytes(model) < packed_bytes(quantize(tiny("llama-gqa"), "bf16")) < fp32


def test_routers_and_experts_stay_as_they_are():
    model = quantize(tiny("mixtral"), "int8")
    moe = model.blocks[0].mlp
    assert not isinstance(moe.router, PackedLinear)
    assert moe.experts.fc_in.dtype == torch.float32


def test_what_cannot_work_is_refused(tmp_path):
    model = quantize(tiny("llama"), "int8")
    with pytest.raises(ValueError, match="already quantized"):
        quantize(model, "int4")
    with pytest.raises(ValueError, match="cannot save tiny-llama: its weights are packed"):
        zoo.save(model, tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match=r"packed for inference \(int8, zoo\.quantize\)"):
        zoo.finetune(model, "some text " * 50, out=tmp_path / "run", steps=1)
    with pytest.raises(ValueError, match="unknown quantization 'int3'"):
        quantize(tiny("llama"), "int3")
    with pytest.raises(ValueError, match="on meta"):
        quantize(zoo.create_model(tiny_spec("llama"), device="meta"), "int8")
    path = tmp_path / "tiny.safetensors"
    zoo.save(tiny("llama"), path)
    with pytest.raises(ValueError, match="unknown quantization 'fp8'; expected one of bf16"):
        zoo.load(path, quantize="fp8")
    assert zoo.load(path, quantize="int4").quantized == "int4"


def test_real_smollm2_int4_keeps_its_answer_and_its_predictions(smollm2_path, smollm2):
    model = zoo.load(smollm2_path, quantize="int4")
    assert model.packed_modes["blocks.0.mlp.fc_in"] == "int4"
    answer = zoo.generate(model, "What is the capital of France?", chat=True,
                          max_new_tokens=12)
    assert "Paris" in answer
    text = (Path(__file__).parents[1] / "data" / "harbour.txt").read_text()
    ids = torch.tensor([smollm2.tokenizer.encode(text)[:256]])
    with torch.no_grad():
        agree = (model(ids).argmax(-1) == smollm2(ids).argmax(-1)).float().mean()
    assert agree > 0.9  # measured: 0.96 over 512 tokens (README)


def test_packing_as_it_fills_needs_the_packed_size_and_one_float_weight():
    from zoo.model.decoder import Model
    from zoo.model.quantize import BYTES_PER_WEIGHT, Packing

    spec = tiny_spec("llama-gqa").with_changes(tie_embeddings=False)
    with torch.device("meta"):
        model = Model(spec)
    sizes = {name: t.numel() * 4 for name, t in model.state_dict().items()}
    linear = {f"{n}.weight": m for n, m in model.named_modules() if isinstance(m, Linear)}
    packed = sum(m.weight.numel() * BYTES_PER_WEIGHT["int4" if n != "head.weight" else "int8"]
                 for n, m in linear.items())
    others = sum(size for name, size in sizes.items() if name not in linear)
    largest = max(sizes[name] for name in linear)
    peak = Packing(model, "int4", device=torch.device("cpu")).peak(sizes)
    assert peak == pytest.approx(others + packed + largest, abs=len(linear))
    assert peak < sum(sizes.values())


def test_a_packed_head_stays_packed_when_weights_are_tied_again():
    model = quantize(tiny("llama-gqa"), "int8")
    head = model.head
    model.tie_weights()
    assert model.head is head and isinstance(model.head.weight, torch.Tensor)
    assert not isinstance(model.head.weight, torch.nn.Parameter)  # still its packed buffer
