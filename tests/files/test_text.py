"""A text file read a window at a time (zoo.files.text.TextFile): the same characters as
Path.read_text, the same ids and perplexity as the whole string, and only a window kept."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from zoo.files import text as text_module
from zoo.files.text import TextFile


def written(tmp_path, data: bytes, name: str = "t.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_length_and_forward_slices_are_read_text_s(tmp_path, monkeypatch):
    monkeypatch.setattr(text_module, "BLOCK", 7)  # blocks that cut characters and \r\n apart
    rng = random.Random(0)
    pieces = ["a", "é", "€", "𝄞", "\r\n", "\r", "\n", " ", "z"]
    data = "".join(rng.choice(pieces) for _ in range(3000)).encode()
    path = written(tmp_path, data)
    whole = path.read_text(encoding="utf-8")
    assert "\r" not in whole
    text = TextFile(path)
    assert len(text) == len(whole)
    start = 0
    while start < len(whole):
        stop = start + rng.randrange(0, 400)
        assert text[start:stop] == whole[start:stop]
        assert text[start:stop + 50] == whole[start:stop + 50]  # a longer slice from there
        start += rng.randrange(0, 300)
        assert len(text._buffer) < 2000  # only what is still ahead is kept
    with pytest.raises(ValueError, match="read forward only"):
        _ = text[0:10]


@pytest.mark.parametrize("block", [4, 5])  # the bad byte first in a block; the one before it
def test_a_file_that_is_not_utf8_is_named_with_its_byte(tmp_path, monkeypatch, block):
    monkeypatch.setattr(text_module, "BLOCK", block)
    path = written(tmp_path, "abcdé".encode()[:-1] + b"\xffxyz")  # é cut after its first byte
    with pytest.raises(ValueError, match=r"t.txt: not UTF-8 text \(invalid continuation byte "
                                         r"at byte 4\)"):
        TextFile(path)
    assert str(written(tmp_path, b"", "empty.txt")) and len(TextFile(tmp_path / "empty.txt")) == 0


def test_a_file_cut_while_it_is_read_is_one_error(tmp_path):
    path = written(tmp_path, b"x" * 5000)
    text = TextFile(path)
    path.write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="changed while it was read"):
        _ = text[0:4000]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_that_never_ends_is_read_to_a_bound(monkeypatch):
    monkeypatch.setattr(text_module, "PIPED", 5 << 20)  # characters; /dev/zero never ends
    with pytest.raises(ValueError, match="more than 5,242,880 characters from a pipe"):
        TextFile("/dev/zero")
    assert len(TextFile("/dev/null")) == 0
