"""zoo's own format: self-describing safetensors, sharded, atomic, strict, never pickled."""

from __future__ import annotations

import json
import os
import re

import pytest
import torch
from safetensors.torch import save_file

import zoo
from tests.tiny import tiny_spec
from zoo.formats import load, save
from zoo.safetensors_io import WeightsError
from zoo.spec import to_mapping


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_single_file(tmp_path):
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    files = save(model, tmp_path / "m.safetensors")
    assert files == [tmp_path / "m.safetensors"]
    loaded = load(tmp_path / "m.safetensors")  # no model name needed: the spec travels
    assert loaded.spec == model.spec and same_weights(model, loaded)
    assert loaded.head.weight is loaded.embed.weight, "tied head re-tied"
    ids = torch.randint(0, 97, (2, 9))
    assert torch.equal(loaded(ids), model.eval()(ids))


def test_tied_tensor_stored_once(tmp_path):
    from zoo.safetensors_io import SafetensorsFile

    save(zoo.create_model(tiny_spec("gpt2"), seed=0), tmp_path / "m.safetensors")
    names = SafetensorsFile(tmp_path / "m.safetensors").names()
    assert "embed.weight" in names and "head.weight" not in names
    save(zoo.create_model(tiny_spec("gpt-j"), seed=0), tmp_path / "j.safetensors")
    assert "head.weight" in SafetensorsFile(tmp_path / "j.safetensors").names()


def test_sharded_save_follows_hf_convention(tmp_path):
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    files = save(model, tmp_path / "out", max_shard_size="200KB")
    shards = sorted(f.name for f in files if f.suffix == ".safetensors")
    n = len(shards)
    assert n > 1 and re.fullmatch(rf"model-00001-of-{n:05d}-[0-9a-f]{{8}}\.safetensors", shards[0])
    index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    assert "zoo_spec" in index["metadata"]
    for path in (tmp_path / "out", tmp_path / "out" / "model.safetensors.index.json"):
        assert same_weights(model, load(path))
    # saving again unsharded replaces the index and removes the shards
    save(model, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.safetensors"]


def test_classifier_head_travels(tmp_path):
    model = zoo.create_model(tiny_spec("openai-gpt"), head="classify", num_labels=4,
                             pooling="mean", seed=0)
    save(model, tmp_path / "c.safetensors")
    loaded = load(tmp_path / "c.safetensors")
    assert loaded.classifier.out_features == 4 and loaded.pooling == "mean"
    assert same_weights(model, loaded)


def test_dtype_on_load(tmp_path):
    save(zoo.create_model(tiny_spec("gpt2"), seed=0), tmp_path / "m.safetensors")
    assert load(tmp_path / "m.safetensors", dtype="bf16").embed.weight.dtype == torch.bfloat16


def test_crash_mid_save_keeps_previous(tmp_path, monkeypatch):
    import safetensors.torch

    first = zoo.create_model(tiny_spec("llama"), seed=0)
    save(first, tmp_path / "out", max_shard_size="200KB")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    real = safetensors.torch.save_file
    calls = {"n": 0}

    def full_disk(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] == 2:
            with open(filename, "wb") as f:
                f.write(b"partial")
            raise OSError(28, "No space left on device")
        real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    with pytest.raises(OSError, match="previous files kept"):
        save(zoo.create_model(tiny_spec("llama"), seed=1), tmp_path / "out",
             max_shard_size="200KB")
    after = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert after == before, "a failed save must leave the previous one whole, and no temp files"
    assert same_weights(first, load(tmp_path / "out"))


def _write_with_spec(path, tensors, spec):
    save_file(tensors, str(path), metadata={"zoo_spec": json.dumps(to_mapping(spec))})


def test_strict_lists_every_problem(tmp_path):
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    tensors = {k: v.clone() for k, v in model.state_dict().items() if k != "head.weight"}
    del tensors["final_norm.bias"]
    tensors["blocks.0.attn.qkv.weight"] = torch.zeros(5, 64)
    tensors["extra.weight"] = torch.zeros(3)
    _write_with_spec(tmp_path / "bad.safetensors", tensors, model.spec)
    with pytest.raises(WeightsError) as info:
        load(tmp_path / "bad.safetensors")
    message = str(info.value)
    assert "bad.safetensors" in message and "missing (1): final_norm.bias" in message
    assert "unexpected (1): extra.weight" in message
    assert "blocks.0.attn.qkv.weight: expected [192, 64], found [5, 64]" in message
    with pytest.warns(UserWarning, match="non-strictly"):
        loose = load(tmp_path / "bad.safetensors", strict=False)
    assert loose.load_report.missing == ["final_norm.bias"]
    assert torch.equal(loose.final_norm.bias, torch.zeros(64))  # initialised, not left on meta
    assert not any(p.is_meta for p in loose.parameters())
    assert torch.equal(loose.blocks[1].attn.qkv.weight, model.blocks[1].attn.qkv.weight)


@pytest.mark.parametrize(("content", "fragment"), [
    (b"", "too short"),
    (b"hello world, not weights", "not a safetensors file"),
    ((8).to_bytes(8, "little") + b"not json", "header is not JSON"),
])
def test_not_safetensors(tmp_path, content, fragment):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=fragment) as info:
        load(path)
    assert str(path) in str(info.value)


def test_truncated_file(tmp_path):
    save(zoo.create_model(tiny_spec("gpt2"), seed=0), tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) - 1000])
    with pytest.raises(WeightsError, match="truncated") as info:
        load(tmp_path / "t.safetensors")
    assert "t.safetensors" in str(info.value)


def test_no_spec_in_metadata(tmp_path):
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    tensors = {k: v for k, v in model.state_dict().items() if k != "head.weight"}
    save_file(tensors, str(tmp_path / "plain.safetensors"))
    with pytest.raises(WeightsError, match="no zoo spec"):
        load(tmp_path / "plain.safetensors")
    assert same_weights(model, load(tmp_path / "plain.safetensors", spec=model.spec))


def test_pickles_are_refused(tmp_path):
    path = tmp_path / "model.bin"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(WeightsError, match="does not load pickled"):
        load(path)


def test_saving_a_meta_model_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="meta device"):
        save(zoo.create_model("gpt2", device="meta"), tmp_path / "m.safetensors")
    assert not os.listdir(tmp_path)
