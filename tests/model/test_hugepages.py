"""Weights laid out in one region of 2 MiB pages for the CPU kernels (zoo.model.hugepages)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import zoo
from zoo.model import hugepages, kernels
from zoo.model.layers import Linear
from zoo.model.quantize import PackedLinear

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
LINUX_THP = sys.platform == "linux" and THP.exists() and "[never]" not in THP.read_text()
MB = 1 << 20


@pytest.fixture(autouse=True)
def pages_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_HUGEPAGES", "1")


def needs_linux() -> None:
    if not hugepages.enabled():
        pytest.skip("2 MiB pages are asked for on Linux only")


def storage(tensor: torch.Tensor) -> tuple[int, int]:
    return tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes()


def test_a_region_holds_its_tensors_exactly_in_the_layout_asked() -> None:
    needs_linux()
    weight = torch.randn(768, 512)
    pages = hugepages.region([weight, weight, torch.zeros(3)])
    assert pages is not None
    rows = pages.place(weight)
    columns = pages.place(weight, transposed=True)
    assert torch.equal(rows, weight) and torch.equal(columns, weight)
    assert rows.stride() == (512, 1) and columns.stride() == (1, 768)  # [in, out] in memory
    assert rows.data_ptr() % hugepages.HUGE == 0  # aligned on a huge page
    assert columns.data_ptr() == rows.data_ptr() + weight.nbytes
    assert storage(rows) == storage(columns)  # one storage, no larger than its tensors
    assert storage(rows)[1] == 2 * weight.nbytes + 64
    assert torch.equal(pages.place(torch.arange(3.0)), torch.arange(3.0))
    with pytest.raises(ValueError, match="has 0 left, not 4"):
        pages.place(torch.zeros(1))
    with pytest.raises(ValueError, match="only a matrix"):
        pages.place(torch.zeros(2, 2, 2), transposed=True)


def test_placed_under_inference_mode_is_a_normal_tensor() -> None:
    needs_linux()
    with torch.inference_mode():
        pages = hugepages.region([torch.zeros(512, 512)])
        assert pages is not None
        placed = pages.place(torch.randn(512, 512))
    assert not placed.is_inference()
    parameter = torch.nn.Parameter(torch.zeros(512, 512))
    parameter.data = placed
    (parameter * 2).sum().backward()  # trainable afterwards
    assert torch.equal(parameter.grad, torch.full((512, 512), 2.0))


def test_no_region_for_few_bytes_or_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert hugepages.region([torch.zeros(16, 16)]) is None
    monkeypatch.delenv("ZOO_HUGEPAGES")  # off unless asked for
    assert not hugepages.enabled() and hugepages.region([torch.zeros(1024, 1024)]) is None
    big = torch.randn(1024, 512)
    assert hugepages.relayout(big) is big
    flipped = hugepages.relayout(big, transposed=True)  # still laid out as asked
    assert flipped.stride() == (1, 1024) and torch.equal(flipped, big)
    assert hugepages.relayout(flipped, transposed=True) is flipped


@pytest.mark.skipif(not LINUX_THP, reason="Linux without transparent huge pages")
def test_the_pages_are_huge() -> None:
    tensors = [torch.randn(2 * MB)]  # 8 MiB: four pages
    pages = hugepages.region(tensors)
    assert pages is not None
    placed = pages.place(tensors[0])
    assert hugepages.backed([placed]) >= 4 * MB  # what Linux says it holds, not what we asked


def spec(**changes):
    return zoo.get_spec("gpt2").with_changes(**{
        "n_layer": 2, "d_model": 512, "n_head": 8, "d_ff": 2048, "vocab_size": 512,
        "context_length": 64, **changes})


def test_a_model_lays_out_its_weights_once_and_decodes_the_same(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    monkeypatch.setenv("ZOO_HUGEPAGES", "0")
    plain = zoo.create_model(spec(), seed=0).eval()
    expected = plain.generate(ids, max_new_tokens=8)
    monkeypatch.setenv("ZOO_HUGEPAGES", "1")
    model = zoo.create_model(spec(), seed=0).eval()
    assert model.laid_out is None
    assert torch.equal(model.generate(ids, max_new_tokens=8), expected)
    assert model.laid_out == torch.float32
    weights = {id(m.weight): m.weight for m in model.modules() if isinstance(m, Linear)}
    report = kernels.summary(model.modules())["huge_pages"]
    assert 0 <= report["bytes"] <= report["of"]
    if hugepages.enabled():  # one storage, exactly the weights (a tied head once)
        assert len({storage(w) for w in weights.values()}) == 1
        assert storage(next(iter(weights.values())))[1] == sum(
            -(-w.nbytes // 64) * 64 for w in weights.values())
    if LINUX_THP:
        assert report["bytes"] >= 16 * MB  # at least the 512 x 2048 MLP matrices, 4 MiB each
    zoo.save(model, tmp_path / "m.safetensors")  # each tensor's bytes, not the region's
    again = zoo.load(tmp_path / "m.safetensors")
    for name, tensor in plain.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name
    model.train()  # and it still trains
    model.loss(ids).backward()
    assert all(w.grad is not None for w in weights.values())


def test_a_new_dtype_is_laid_out_again() -> None:
    model = zoo.create_model(spec(), seed=0).eval()
    ids = torch.tensor([[1, 2, 3]])
    model.generate(ids, max_new_tokens=2)
    model.to(torch.bfloat16)
    out = model.generate(ids, max_new_tokens=2)
    assert model.laid_out == torch.bfloat16 and out.shape == (1, 5)
    if hugepages.enabled():
        assert len({storage(m.weight) for m in model.modules() if isinstance(m, Linear)}) == 1


def test_packed_weights_share_one_region(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = torch.tensor([[1, 2, 3, 4]])
    monkeypatch.setenv("ZOO_HUGEPAGES", "0")
    plain = zoo.quantize(zoo.create_model(spec(), seed=0).eval(), "int4")
    expected = plain.generate(ids, max_new_tokens=6)
    monkeypatch.setenv("ZOO_HUGEPAGES", "1")
    model = zoo.quantize(zoo.create_model(spec(), seed=0).eval(), "int4")
    assert torch.equal(model.generate(ids, max_new_tokens=6), expected)
    packed = [t for m in model.modules() if isinstance(m, PackedLinear)
              for name, t in m.named_buffers(recurse=False)
              if t is not None and not t.is_mkldnn and name != "bias"]
    assert packed
    if hugepages.enabled():
        assert len({storage(t) for t in packed}) == 1
