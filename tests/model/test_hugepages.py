"""Weights copied into 2 MiB pages for the CPU kernels (zoo.model.hugepages)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import zoo
from zoo.model import hugepages, kernels
from zoo.model.layers import Linear

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
LINUX_THP = sys.platform == "linux" and THP.exists() and "[never]" not in THP.read_text()
MB = 1 << 20


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """No chunk being filled: the next placement starts a new one."""
    monkeypatch.setattr(hugepages, "_current", [])
    monkeypatch.delenv("ZOO_HUGEPAGES", raising=False)


def needs_linux() -> None:
    if not hugepages.enabled():
        pytest.skip("2 MiB pages are asked for on Linux only")


def test_place_keeps_values_shape_and_layout(fresh: None) -> None:
    needs_linux()
    weight = torch.randn(768, 512)
    rows = hugepages.place(weight)
    columns = hugepages.place(weight, transposed=True)
    assert torch.equal(rows, weight) and torch.equal(columns, weight)
    assert rows.shape == columns.shape == weight.shape
    assert rows.stride() == (512, 1) and columns.stride() == (1, 768)  # [in, out] in memory
    assert rows.data_ptr() != weight.data_ptr()  # a copy, in a chunk aligned on 2 MiB
    assert rows.data_ptr() % hugepages.HUGE == 0
    assert columns.data_ptr() % 64 == 0 and columns.data_ptr() > rows.data_ptr()


def test_placed_under_inference_mode_is_a_normal_tensor(fresh: None) -> None:
    needs_linux()
    with torch.inference_mode():
        placed = hugepages.place(torch.randn(512, 512))
    assert not placed.is_inference()
    parameter = torch.nn.Parameter(torch.zeros(512, 512))
    parameter.data = placed
    (parameter * 2).sum().backward()  # trainable afterwards
    assert torch.equal(parameter.grad, torch.full((512, 512), 2.0))


def test_small_or_switched_off_stays_put(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    small = torch.randn(16, 16)
    assert hugepages.place(small).data_ptr() == small.data_ptr()
    monkeypatch.setenv("ZOO_HUGEPAGES", "0")
    assert not hugepages.enabled()
    big = torch.randn(1024, 512)
    assert hugepages.place(big).data_ptr() == big.data_ptr()
    flipped = hugepages.place(big, transposed=True)  # still laid out as asked
    assert flipped.stride() == (1, 1024) and torch.equal(flipped, big)
    with pytest.raises(ValueError, match="only a matrix"):
        hugepages.place(torch.zeros(4, 4, 4), transposed=True)


def test_a_chunk_is_filled_again_once_its_tensors_are_gone(fresh: None) -> None:
    needs_linux()
    if getattr(torch._C, "_storage_Use_Count", None) is None:
        pytest.skip("this torch does not say how many tensors use a storage")
    first = hugepages.place(torch.randn(512, 512))
    second = hugepages.place(torch.randn(512, 512))
    start = first.data_ptr()
    assert second.data_ptr() == start + 512 * 512 * 4  # one after another
    del first
    third = hugepages.place(torch.randn(512, 512))  # `second` still lives there
    assert third.data_ptr() == start + 2 * 512 * 512 * 4
    del second, third
    assert hugepages.place(torch.randn(512, 512)).data_ptr() == start


@pytest.mark.skipif(not LINUX_THP, reason="Linux without transparent huge pages")
def test_the_pages_are_huge(fresh: None) -> None:
    placed = hugepages.place(torch.randn(2 * MB))  # 8 MiB: four pages
    assert hugepages.backed([placed]) >= 4 * MB  # what Linux says it holds, not what we asked
    assert hugepages.backed([torch.randn(2 * MB)]) < 8 * MB


def test_a_model_decodes_from_huge_pages_and_saves_the_same(
        fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = zoo.get_spec("gpt2").with_changes(n_layer=2, d_model=512, n_head=8, d_ff=2048,
                                             vocab_size=512, context_length=64)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    monkeypatch.setenv("ZOO_HUGEPAGES", "0")
    plain = zoo.create_model(spec, seed=0).eval()
    expected = plain.generate(ids, max_new_tokens=8)
    monkeypatch.delenv("ZOO_HUGEPAGES")
    model = zoo.create_model(spec, seed=0).eval()
    assert torch.equal(model.generate(ids, max_new_tokens=8), expected)
    weights = {id(t): t for m in model.modules() if isinstance(m, Linear)
               for t in (m.weight, m.bias) if t is not None}  # the tied head once
    report = kernels.summary(model.modules())["huge_pages"]
    assert report["of"] == sum(t.nbytes for t in weights.values())
    assert 0 <= report["bytes"] <= report["of"]
    if LINUX_THP:
        assert report["bytes"] >= 16 * MB  # at least the 512 x 2048 MLP matrices, 4 MiB each
    zoo.save(model, tmp_path / "m.safetensors")  # each tensor's bytes, not its chunk's
    again = zoo.load(tmp_path / "m.safetensors")
    assert (tmp_path / "m.safetensors").stat().st_size < 2 * sum(
        t.nbytes for t in plain.state_dict().values())
    for name, tensor in plain.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name
