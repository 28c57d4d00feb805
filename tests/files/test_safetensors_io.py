"""zoo's safetensors reader and writer: the same bytes as the safetensors library both ways,
and, for any header or metadata however malformed, only zoo's documented errors."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import zoo
from tests.tiny import tiny_spec
from zoo.checkpoints import read_spec
from zoo.checkpoints.metadata import is_zoo_file, zoo_metadata
from zoo.files import WeightsError
from zoo.files.safetensors_io import DTYPES, SafetensorsFile, write_file
from zoo.spec import SpecError, to_mapping

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
SETTINGS = hypothesis.settings(max_examples=150, deadline=None)

tensors = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.builds(lambda dtype, shape, seed: (torch.randn(shape, generator=torch.Generator()
                                                      .manual_seed(seed)) * 8).to(dtype),
              st.sampled_from(list(DTYPES.values())),
              st.lists(st.integers(0, 4), max_size=3), st.integers(0, 2**31)),
    max_size=5)


def same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit (NaNs included), dtype and shape too."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))


@SETTINGS
@hypothesis.given(tensors, st.dictionaries(st.text(max_size=5), st.text(max_size=5),
                                           max_size=3))
def test_same_files_as_the_safetensors_library(tensors, metadata):
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = Path(folder) / "ours.safetensors", Path(folder) / "theirs.safetensors"
        write_file(ours, tensors, metadata)
        with safe_open(str(ours), "pt") as f:
            assert set(f.keys()) == set(tensors) and (f.metadata() or {}) == metadata
            for name, tensor in tensors.items():
                assert same_bytes(f.get_tensor(name), tensor)
        save_file(tensors, str(theirs), metadata=metadata or None)
        for path in (ours, theirs):
            file = SafetensorsFile(path)
            assert file.metadata == metadata and set(file.names()) == set(tensors)
            for name, tensor in tensors.items():
                for mmap in (True, False):
                    read = file.read(name, mmap=mmap)
                    assert read.dtype == tensor.dtype and read.shape == tensor.shape
                    assert same_bytes(read, tensor)


SPEC = json.dumps(to_mapping(tiny_spec("gpt2")))
junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(), st.text(max_size=6),
                 st.lists(st.integers(-3, 300), max_size=3), st.just({}))
entry = st.one_of(junk, st.fixed_dictionaries(
    {"dtype": st.one_of(st.sampled_from([*DTYPES, "F9"]), junk),
     "shape": st.one_of(st.lists(st.integers(-2, 9), max_size=3), junk),
     "data_offsets": st.one_of(st.lists(st.integers(-8, 300), min_size=2, max_size=2), junk)}))
metadata = st.one_of(junk, st.dictionaries(
    st.sampled_from(["zoo_spec", "zoo_head", "format", "x"]),
    st.one_of(junk, st.sampled_from([SPEC, "{", "[]", '{"head": "classify"}', '{"dropout": 1}',
                                     '{"num_labels": 0}', SPEC.replace("64", "-1")])),
    max_size=3))


@SETTINGS
@hypothesis.given(st.dictionaries(st.text(max_size=6), entry, max_size=4), metadata,
                  st.binary(max_size=300), st.integers(-4, 4))
def test_malformed_files_give_documented_errors(header, meta, data, length_error):
    """Whatever the header, the metadata and the data: read_spec, zoo.load (on CPU and on
    meta) and the header reader give a result or a WeightsError (a SpecError where the spec
    fields are read without torch), never another exception."""
    if meta is not None:
        header["__metadata__"] = meta
    raw = json.dumps(header).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.safetensors"
        path.write_bytes((len(raw) + length_error).to_bytes(8, "little", signed=True) + raw + data)
        is_zoo_file(path)
        for read in (SafetensorsFile, read_spec, zoo.load,
                     lambda p: zoo.load(p, device="meta"), lambda p: zoo.load(p, dtype="bf16")):
            with contextlib.suppress(WeightsError, SpecError):
                read(path)


@SETTINGS
@hypothesis.given(st.one_of(junk, st.dictionaries(
    st.sampled_from(["weight_map", "metadata"]),
    st.one_of(junk, st.dictionaries(st.text(max_size=4), st.one_of(junk, st.sampled_from(
        ["model.safetensors", "../m.safetensors", "/etc/passwd", "a/../../b", "", "."])),
        max_size=3)), max_size=2)))
def test_malformed_indexes_give_documented_errors(index):
    with tempfile.TemporaryDirectory() as folder:
        save_file({"embed.weight": torch.zeros(2)}, str(Path(folder) / "model.safetensors"),
                  metadata=zoo_metadata(tiny_spec("gpt2"), {}))
        (Path(folder) / "model.safetensors.index.json").write_text(json.dumps(index))
        for read in (read_spec, zoo.load):
            with contextlib.suppress(WeightsError, SpecError):
                read(folder)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_or_a_device_is_refused_without_waiting_for_a_writer(tmp_path):
    import signal

    from zoo.files.errors import WeightsError
    from zoo.files.gguf import GGUFFile, is_gguf
    from zoo.files.safetensors import read_header
    from zoo.files.safetensors_io import SafetensorsFile

    pipe = tmp_path / "model.safetensors"
    os.mkfifo(pipe)
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("blocked on the pipe"))
    signal.alarm(10)
    try:
        for read in (read_header, SafetensorsFile, GGUFFile):
            with pytest.raises(WeightsError, match="a pipe, not a regular file"):
                read(pipe)
        assert not is_gguf(pipe)
        with pytest.raises(WeightsError, match="a device"):
            read_header("/dev/zero")  # would never end
        from zoo.files.safetensors import read_index
        from zoo.registry import read_yaml
        from zoo.spec import SpecError
        from zoo.verify import read_claims

        for name, read in (("model.safetensors.index.json", read_index),
                           ("specs.yaml", lambda p: read_yaml(p, "spec file")),
                           ("claims.csv", read_claims)):
            os.mkfifo(tmp_path / name)
            with pytest.raises((WeightsError, SpecError), match="a pipe, not a regular file"):
                read(tmp_path / name)
        with pytest.raises(WeightsError, match="a folder"):
            read_header(tmp_path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
