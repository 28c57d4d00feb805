"""zoo's own format: self-describing safetensors, sharded, atomic, strict, never pickled."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import zoo
from tests.tiny import tiny_spec
from zoo.checkpoints import load, save
from zoo.checkpoints.metadata import zoo_metadata
from zoo.checkpoints.native import stored_tensors
from zoo.files import WeightsError
from zoo.files.safetensors_io import SafetensorsFile
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
    from zoo.files.safetensors_io import SafetensorsFile

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


def test_failed_write_keeps_previous(tmp_path, monkeypatch):
    """A write failing part-way (as on a full disk: tests/test_weights_faults.py fills a real
    one) removes what the save wrote and keeps the previous save whole."""
    import zoo.files.safetensors_io

    first = zoo.create_model(tiny_spec("llama"), seed=0)
    save(first, tmp_path / "out", max_shard_size="200KB")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    real, calls = os.write, {"n": 0}

    def full_disk(fd, data):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(zoo.files.safetensors_io.os, "write", full_disk)
    with pytest.raises(OSError, match="previous files kept: No space left") as info:
        save(zoo.create_model(tiny_spec("llama"), seed=1), tmp_path / "out",
             max_shard_size="200KB")
    assert info.value.errno == 28
    after = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert after == before, "a failed save must leave the previous one whole, and no temp files"
    assert same_weights(first, load(tmp_path / "out"))


@pytest.mark.parametrize("name", ["out", "out/x.safetensors"])
def test_resaving_switches_between_single_and_sharded(tmp_path, name):
    """Each save is what loads next, whatever the previous layout; nothing stale stays."""
    models = [zoo.create_model(tiny_spec("llama"), seed=seed) for seed in range(4)]
    layouts = ["1GB", "200KB", "200KB", "1GB"]
    for model, limit in zip(models, layouts, strict=True):
        files = save(model, tmp_path / name, max_shard_size=limit)
        assert same_weights(model, load(tmp_path / name))
        folder = files[0].parent
        assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in files)


def test_sharded_saves_use_fresh_names(tmp_path):
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    first = set(save(model, tmp_path, max_shard_size="200KB"))
    second = set(save(model, tmp_path, max_shard_size="200KB"))
    assert first & second == {tmp_path / "model.safetensors.index.json"}


def test_index_beside_a_single_file_wins(tmp_path):
    """A single file beside an index is what an interrupted save left: the index is loaded."""
    sharded, single = (zoo.create_model(tiny_spec("llama"), seed=s) for s in (0, 1))
    save(sharded, tmp_path, max_shard_size="200KB")
    save(single, tmp_path / "elsewhere.safetensors")
    os.replace(tmp_path / "elsewhere.safetensors", tmp_path / "model.safetensors")
    assert same_weights(sharded, load(tmp_path))
    assert same_weights(sharded, load(tmp_path / "model.safetensors"))


def test_stale_entries_outside_the_folder_are_never_touched(tmp_path):
    """An index naming files outside its folder is refused on load, and a save over it removes
    nothing outside the folder."""
    victim = tmp_path / "victim.safetensors"
    victim.write_bytes(b"precious")
    folder = tmp_path / "out"
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    save(model, folder, max_shard_size="200KB")
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    for outside in ("../victim.safetensors", str(victim)):
        index["weight_map"]["embed.weight"] = outside
        index_path.write_text(json.dumps(index))
        with pytest.raises(WeightsError, match="outside the folder"):
            load(folder)
        save(model, folder, max_shard_size="200KB")
        save(model, folder)
        assert victim.read_bytes() == b"precious"
    assert same_weights(model, load(folder))


def test_readers_trust_only_what_the_index_names(tmp_path):
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    save(model, tmp_path, max_shard_size="200KB")
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    shard = index["weight_map"].pop("final_norm.weight")
    index_path.write_text(json.dumps(index))
    with pytest.raises(WeightsError, match=r"missing \(1\): final_norm.weight"):
        load(tmp_path)  # the shard still holds it, but the index does not name it
    index["weight_map"]["final_norm.weight"] = shard
    index["weight_map"]["embed.weight"] = shard
    index_path.write_text(json.dumps(index))
    with pytest.raises(WeightsError, match=f"lists 'embed.weight' in {shard}, which does not"):
        load(tmp_path)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_files_get_the_umask_mode(tmp_path, umask):
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    old = os.umask(umask)
    try:
        files = [*save(model, tmp_path / "a", max_shard_size="200KB"),
                 *save(model, tmp_path / "b.safetensors")]
    finally:
        os.umask(old)
    assert {f.stat().st_mode & 0o777 for f in files} == {0o666 & ~umask}


def test_non_utf8_path_round_trips(tmp_path):
    path = tmp_path / os.fsdecode(b"\xff\xfe.safetensors")
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    save(model, path)
    assert same_weights(model, load(path))


@pytest.mark.filterwarnings("ignore:.*loaded into tiny-gpt2 non-strictly")
def test_file_bigger_than_memory(tmp_path):
    """A (sparse) file larger than this machine's memory and swap: loads on meta without
    reading a byte, and on the CPU is refused with the way to load it (device_map)."""
    from zoo.model import ModelTooLargeError

    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    memory = sum(int(meminfo[k].split()[0]) * 1024 for k in ("MemTotal", "SwapTotal"))
    spec = tiny_spec("gpt2").with_changes(vocab_size=2 * memory // (4 * 64) + 1)
    tensors = {"embed.weight": {"dtype": "F32", "shape": [spec.vocab_size, 64]}}
    header_fields = {"__metadata__": {"zoo_spec": json.dumps(to_mapping(spec))}}
    path = tmp_path / "huge.safetensors"
    try:
        write_raw(path, {**header_fields, **{n: {**e, "data_offsets": [0, spec.vocab_size * 256]}
                                             for n, e in tensors.items()}},
                  data_size=spec.vocab_size * 256)
    except OSError as err:
        pytest.skip(f"this file system holds no sparse file of {memory:,} bytes: {err}")
    model = load(path, device="meta", strict=False)
    assert model.embed.weight.is_meta and model.embed.weight.shape == (spec.vocab_size, 64)
    with pytest.raises(ModelTooLargeError, match=r"huge\.safetensors: .*device_map='auto'"):
        load(path, strict=False)
    if Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "0":
        with pytest.raises(MemoryError, match=r"cannot map .*device_map='auto'"):
            load(path, strict=False, ignore_memory_limit=True)


# --- files that are not what they claim --------------------------------------------------------

def write_raw(path, header, data: bytes = b"", data_size: int | None = None) -> None:
    """A safetensors file written byte by byte, header as given (sparse up to `data_size`)."""
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw + data)
        if data_size is not None:
            f.truncate(8 + len(raw) + data_size)


def tiny_file(tmp_path, *, metadata=None, change=None) -> Path:
    """The tiny gpt2 saved by zoo, with its metadata or tensors changed."""
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    tensors = {k: v.clone() for k, v in stored_tensors(model).items()}
    if change:
        tensors.update(change)
    path = tmp_path / "m.safetensors"
    base = zoo_metadata(model.spec, {})
    save_file(tensors, str(path), metadata={**base, **(metadata or {})})
    return path


@pytest.mark.parametrize(("metadata", "fragment"), [
    ({"zoo_spec": "[1]"}, "zoo_spec metadata must be a JSON object"),
    ({"zoo_spec": '{"name": "x"}'}, "zoo_spec metadata is invalid: .*field 'family'"),
    ({"zoo_spec": "{not json"}, "zoo_spec metadata is not JSON"),
    ({"zoo_spec": "[" * 10_000}, "zoo_spec metadata nests JSON 10,000 deep"),  # not a crash
    ({"zoo_head": "{" * 10_000}, "zoo_head metadata nests JSON"),
    ({"zoo_head": "[1]"}, "zoo_head metadata must be a JSON object"),
    ({"zoo_head": '{"dropout": 0.5}'}, "zoo_head metadata: unknown key 'dropout'; it may set "
                                       "head, num_labels, pooling"),
    ({"zoo_head": '{"head": "classify", "num_labels": "x"}'}, "num_labels must be an integer"),
    ({"zoo_head": '{"head": "classify", "num_labels": 1e12}'}, "num_labels must be an integer"),
    ({"zoo_head": '{"head": "classify", "num_labels": 10000000000}'}, "within 1..1,000,000"),
    ({"zoo_head": '{"head": "regress"}'}, "zoo_head metadata: unknown head 'regress'"),
])
def test_bad_zoo_metadata(tmp_path, metadata, fragment):
    path = tiny_file(tmp_path, metadata=metadata)
    with pytest.raises(WeightsError, match=fragment) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("metadata", "fragment"), [
    ([1, 2], "__metadata__ must map strings to strings, got list"),
    ({"zoo_spec": 5}, "__metadata__: 'zoo_spec' must be a string, got int"),
])
def test_bad_metadata_block(tmp_path, metadata, fragment):
    path = tmp_path / "m.safetensors"
    write_raw(path, {"__metadata__": metadata})
    with pytest.raises(WeightsError, match=fragment):
        load(path)


@pytest.mark.parametrize(("change", "fragment"), [
    ({"final_norm.bias": torch.zeros(64, dtype=torch.int64)},
     "tensor final_norm.bias is stored as int64; weights are floating point"),
    ({"final_norm.bias": torch.zeros(64, dtype=torch.float16)},
     "tensor final_norm.bias is stored as float16 but [a-z0-9.]+ as float32; a model computes "
     "in one dtype: pass dtype="),
    ({"final_norm.bias": torch.zeros(64, dtype=torch.float8_e4m3fn)},
     "final_norm.bias is stored as float8_e4m3fn, which a model does not compute in"),
])
def test_tensor_dtypes(tmp_path, change, fragment):
    path = tiny_file(tmp_path, change=change)
    with pytest.raises(WeightsError, match=fragment):
        load(path)
    if change["final_norm.bias"].is_floating_point():  # converting on load is the way out
        assert load(path, dtype="fp32").final_norm.bias.dtype == torch.float32


def test_overlapping_tensors(tmp_path):
    path = tmp_path / "m.safetensors"
    header = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
              "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}
    write_raw(path, header, bytes(24))
    with pytest.raises(WeightsError, match="tensors 'a' and 'b' overlap"):
        SafetensorsFile(path)


@pytest.mark.parametrize(("index", "fragment"), [
    ({"weight_map": {"embed.weight": 5}}, "'weight_map' entry 'embed.weight': 5 is not a file"),
    ({"weight_map": [1]}, "'weight_map' maps tensor names to shard files"),
    ({"weight_map": {}, "metadata": [1]}, "its 'metadata' must be a JSON object"),
    ([], "expected a JSON object"),
])
def test_bad_index(tmp_path, index, fragment):
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(WeightsError, match=fragment):
        load(tmp_path)


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


def test_the_tokenizer_travels_inside_the_file(tmp_path):
    """A converted checkpoint keeps what its source held: the tokenizer (special tokens and
    chat template included) is in the file's metadata, so the file needs nothing beside it."""
    from zoo.testing import byte_tokenizer

    model = zoo.create_model(tiny_spec("llama").with_changes(vocab_size=256), seed=0)
    model.tokenizer = byte_tokenizer()
    model.tokenizer.chat_template = "{{ messages[0]['content'] }}!"
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert loaded.tokenizer is not None
    assert loaded.tokenizer.encode("harbour") == model.tokenizer.encode("harbour")
    assert loaded.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}]) == "hi!"
    bare = zoo.create_model(tiny_spec("llama"), seed=0)
    save(bare, tmp_path / "bare.safetensors")
    assert load(tmp_path / "bare.safetensors").tokenizer is None
    tensors = {k: v.contiguous() for k, v in stored_tensors(model).items()}
    metadata = {**zoo_metadata(model.spec, {}), "zoo_tokenizer": "{not json"}
    save_file(tensors, tmp_path / "bad.safetensors", metadata=metadata)
    with pytest.raises(WeightsError, match="zoo_tokenizer metadata is not a tokenizer"):
        load(tmp_path / "bad.safetensors")


def test_a_quantized_load_packs_each_layer_as_it_is_read(tmp_path, monkeypatch):
    from tests.tiny import float_layers_while_packing
    from zoo.model.quantize import quantize

    model = zoo.create_model(tiny_spec("llama-gqa"), seed=0).eval()
    save(model, tmp_path / "m.safetensors")
    after = quantize(load(tmp_path / "m.safetensors"), "int8")
    seen = float_layers_while_packing(monkeypatch)
    streamed = load(tmp_path / "m.safetensors", quantize="int8")
    assert seen and max(seen) <= 2 and streamed.packed_modes == after.packed_modes
    ids = torch.tensor([[2, 7, 1, 8]])
    with torch.no_grad():
        assert torch.equal(streamed(ids), after(ids))
    with pytest.raises(ValueError, match="does not combine with device_map"):
        load(tmp_path / "m.safetensors", quantize="int8", device_map="auto")
