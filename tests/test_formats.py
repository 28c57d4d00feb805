"""The formats table: every path recognised, its spec read without torch, loaded and saved
through one entry per format, and options a format does not take refused by name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import zoo
from tests.tiny import hf_model, tiny_spec
from zoo.formats import FORMATS, detect, read_spec
from zoo.safetensors_header import WeightsError


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One tiny llama in every format zoo writes."""
    root = tmp_path_factory.mktemp("formats")
    model = zoo.create_model(tiny_spec("llama"), seed=0)
    zoo.save(model, root / "m.safetensors")
    zoo.save(model, root / "sharded", max_shard_size="100KB")
    zoo.save(model, root / "hf", format="hf")
    zoo.save(model, root / "dcp", format="dcp")
    return root, model


@pytest.mark.parametrize(("path", "name"), [("m.safetensors", "zoo"), ("sharded", "zoo"),
                                            ("sharded/model.safetensors.index.json", "zoo"),
                                            ("hf", "hf"), ("dcp", "dcp")])
def test_every_written_format_is_recognised_and_loads(checkpoints, path, name):
    root, model = checkpoints
    assert detect(root / path).name == name
    assert read_spec(root / path).name == model.spec.name
    assert same_weights(zoo.load(root / path), model)


def test_spec_is_read_without_torch(checkpoints):
    root, _ = checkpoints
    code = ("import sys, zoo.formats as f; "
            f"print(f.read_spec({str(root / 'm.safetensors')!r}).n_layer, "
            f"f.read_spec({str(root / 'hf')!r}).n_layer, "
            f"f.read_spec({str(root / 'dcp')!r}).n_layer); "
            "assert 'torch' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "2", "2"]


def test_options_a_format_does_not_take_are_named(checkpoints):
    root, _ = checkpoints
    with pytest.raises(ValueError, match=r"device_map: not an option for hf checkpoints.*"
                                         r"they take .*dtype"):
        zoo.load(root / "hf", device_map="auto")
    with pytest.raises(ValueError, match=r"unknown format 'onnx'; zoo writes dcp, zoo, hf"):
        zoo.save(zoo.create_model(tiny_spec("gpt2"), seed=0), root / "x", format="onnx")


def test_unknown_and_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(WeightsError, match="not a weights format zoo reads"):
        detect(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        detect(tmp_path / "missing.txt")
    torch.save({"w": torch.zeros(2)}, tmp_path / "m.pt")
    assert detect(tmp_path / "m.pt").name == "pickle"
    with pytest.raises(WeightsError, match="does not load pickled checkpoints"):
        zoo.load(tmp_path / "m.pt")


def test_hf_folder_with_zoo_weights_is_zoo(tmp_path):
    """A folder that zoo.save wrote (no config.json) is zoo's; one with config.json is HF."""
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    zoo.save(model, tmp_path / "z")
    hf_model(tiny_spec("gpt2")).save_pretrained(tmp_path / "h")
    assert detect(tmp_path / "z").name == "zoo" and detect(tmp_path / "h").name == "hf"


def test_convert_to_a_distributed_checkpoint(checkpoints, tmp_path, capsys):
    from zoo.cli import main

    root, model = checkpoints
    assert main(["convert", str(root / "m.safetensors"), str(tmp_path / "ckpt"), "--format",
                 "dcp", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "dcp"
    assert same_weights(zoo.load(tmp_path / "ckpt"), model)


def test_table_is_complete():
    for fmt in FORMATS.values():
        assert fmt.description and callable(fmt.sniff) and callable(fmt.read_spec)
