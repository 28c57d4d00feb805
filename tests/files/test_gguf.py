"""The GGUF header reader (zoo.files.gguf) on crafted files: bounded memory whatever the
metadata holds, and tensor data that is each tensor's own and aligned."""

from __future__ import annotations

import tracemalloc

import pytest

from tests.files.crafted_gguf import ARRAY, STRING, UINT8, UINT32, write_gguf
from zoo.files import WeightsError
from zoo.files.gguf import GGUFFile

F32 = 0  # GGML type


def test_a_big_numeric_array_stays_in_the_file(tmp_path):
    """A 20 MB uint8 array was a list of 20 million Python ints (160 MB of pointers and a
    tuple as big again); now it is a view of the file's bytes."""
    path = write_gguf(tmp_path / "big.gguf", {
        "general.architecture": (STRING, "llama"),
        "junk": (ARRAY, (UINT8, bytes(range(256)) * 80_000)),
        "small": (ARRAY, (UINT32, [1, 2, 3]))})
    GGUFFile(path)  # modules it imports, once
    tracemalloc.start()
    try:
        file = GGUFFile(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"parsing the header allocated {peak:,} bytes"
    junk = file.fields["junk"]
    assert not isinstance(junk, list) and len(junk) == 256 * 80_000
    assert junk[257] == 1 and junk[-1] == 255 and junk[:3] == [0, 1, 2]
    assert file.fields["small"] == [1, 2, 3] and file.fields["small"].tolist() == [1, 2, 3]


def test_a_string_array_beyond_the_budget_is_refused_by_key(tmp_path):
    path = write_gguf(tmp_path / "many.gguf", {
        "tokenizer.ggml.tokens": (ARRAY, (STRING, [])),
        "general.architecture": (STRING, "llama")})
    raw = bytearray(path.read_bytes())  # claim 2^21 strings in a file of a few bytes
    at = raw.index(b"tokenizer.ggml.tokens") + len("tokenizer.ggml.tokens") + 8
    raw[at:at + 8] = (2**21).to_bytes(8, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match=r"tokenizer\.ggml\.tokens is an array of "
                                           r"2,097,152 strings; zoo reads at most"):
        GGUFFile(path)


def f32_tensors(tmp_path, offsets, alignment=None):
    fields = {"general.architecture": (STRING, "llama")}
    if alignment is not None:
        fields["general.alignment"] = (UINT32, alignment)
    tensors = [(f"t{i}", (4,), F32, offset) for i, offset in enumerate(offsets)]
    return write_gguf(tmp_path / "t.gguf", fields, tensors, bytes(256), alignment or 32)


def test_tensors_sharing_bytes_are_refused_by_name(tmp_path):
    pytest.importorskip("gguf")
    assert set(GGUFFile(f32_tensors(tmp_path, [0, 32])).tensors) == {"t0", "t1"}
    with pytest.raises(WeightsError, match="tensors 't0' and 't1' share bytes"):
        GGUFFile(f32_tensors(tmp_path, [64, 64]))
    with pytest.raises(WeightsError, match="tensors 't1' and 't0' share bytes"):
        GGUFFile(f32_tensors(tmp_path, [8, 0], alignment=8))


def test_misaligned_tensors_are_refused_by_name(tmp_path):
    with pytest.raises(WeightsError, match=r"tensor 't1' starts at data offset 16, not a "
                                           r"multiple of the file's alignment 32"):
        GGUFFile(f32_tensors(tmp_path, [0, 16]))
    assert GGUFFile(f32_tensors(tmp_path, [0, 16], alignment=16)).tensors["t1"].start % 16 == 0
