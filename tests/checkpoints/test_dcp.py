"""Distributed checkpoints (torch.distributed.checkpoint with zoo's spec) in one process: to and
from zoo's safetensors, their dtype kept, a tied head stored once, older checkpoints still
read, and a crafted .metadata refused before anything it holds runs. Saving and loading from
several ranks is tests/test_distributed.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import zoo
from tests.tiny import tiny_spec
from zoo.checkpoints import dcp as zoo_dcp
from zoo.cli import main
from zoo.spec import to_mapping


def test_zoo_file_to_checkpoint_and_back(tmp_path):
    model = zoo.create_model(tiny_spec("falcon-40b"), seed=0)
    zoo.save(model, tmp_path / "m.safetensors")
    zoo_dcp.zoo_to_checkpoint(tmp_path / "m.safetensors", tmp_path / "ckpt")
    back = zoo.load(zoo_dcp.checkpoint_to_zoo(tmp_path / "ckpt", tmp_path / "back.safetensors")[0])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 back.state_dict().values(), strict=True))


def test_checkpoint_keeps_its_dtype_and_stores_a_tied_head_once(tmp_path):
    """A bf16 checkpoint exports as bf16 (or as asked), and a tied head is not stored a second
    time: with a large vocabulary the head would be most of the file."""
    spec = tiny_spec("gpt2").with_changes(vocab_size=4000)
    model = zoo.create_model(spec, seed=0, dtype="bf16")
    zoo_dcp.save_checkpoint(model, tmp_path / "ckpt")
    stored = sum(f.stat().st_size for f in (tmp_path / "ckpt").glob("*.distcp"))
    head = spec.vocab_size * spec.d_model * 2
    assert model.num_params() * 2 <= stored < model.num_params() * 2 + head // 2
    exported = zoo.load(zoo_dcp.checkpoint_to_zoo(tmp_path / "ckpt", tmp_path / "m.safetensors")[0])
    assert exported.embed.weight.dtype == torch.bfloat16
    assert exported.head.weight is exported.embed.weight
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 exported.state_dict().values(), strict=True))
    assert (tmp_path / "m.safetensors").stat().st_size < model.num_params() * 2 + head // 2
    assert main(["distributed", "export", str(tmp_path / "ckpt"),
                 str(tmp_path / "f.safetensors"), "--dtype", "fp32"]) == 0
    assert zoo.load(tmp_path / "f.safetensors").embed.weight.dtype == torch.float32


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")
def test_checkpoints_written_before_the_dtype_was_recorded_still_load(tmp_path):
    """zoo_spec.json used to be the spec alone, and the head was stored too."""
    import torch.distributed.checkpoint as dcp

    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    dcp.save({"model": model.state_dict()}, checkpoint_id=str(tmp_path))
    (tmp_path / "zoo_spec.json").write_text(json.dumps(to_mapping(model.spec)))
    again = zoo_dcp.load_checkpoint_model(tmp_path)
    assert again.embed.weight.dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values(), strict=True))


class RunsCode:
    """What a crafted checkpoint's .metadata holds: unpickling it runs a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _tamper(folder: Path, change) -> None:
    """Rewrite a checkpoint's .metadata (with plain pickle, as torch writes it)."""
    import pickle

    metadata = zoo_dcp.read_checkpoint_metadata(folder)
    (folder / ".metadata").write_bytes(pickle.dumps(change(metadata)))


def _with_bytes_entry(metadata):
    from torch.distributed.checkpoint.metadata import BytesStorageMetadata

    metadata.state_dict_metadata["model.embed.weight"] = BytesStorageMetadata()
    return metadata


def _with_outside_file(metadata):
    for info in metadata.storage_data.values():
        info.relative_path = "../elsewhere.distcp"
    return metadata


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda marker: (lambda m: [m, RunsCode(marker)]), r"refused: it names \w+\.system"),
    (lambda marker: _with_bytes_entry, "entry 'model.embed.weight' is BytesStorageMetadata"),
    (lambda marker: _with_outside_file, "'../elsewhere.distcp' is outside the folder"),
    (lambda marker: (lambda m: {"not": "metadata"}), "not a checkpoint's metadata"),
])
def test_crafted_checkpoint_metadata_is_refused(tmp_path, change, fragment, capsys):
    """`zoo distributed export` of a checkpoint whose .metadata (a pickle, by torch's design)
    was crafted: refused before torch reads it (a WeightsError, said on one line), and nothing
    it holds runs."""
    import re

    marker = tmp_path / "ran"
    zoo_dcp.save_checkpoint(zoo.create_model(tiny_spec("gpt2"), seed=0), tmp_path / "ckpt")
    _tamper(tmp_path / "ckpt", change(marker))
    code = main(["distributed", "export", str(tmp_path / "ckpt"),
                 str(tmp_path / "out.safetensors"), "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == 2 and error["type"] == "WeightsError" and re.search(fragment, error["message"])
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_what_is_not_a_zoo_distributed_checkpoint_is_said_in_one_line(tmp_path):
    from zoo.checkpoints.metadata import read_checkpoint_info
    from zoo.files import WeightsError

    with pytest.raises(WeightsError, match="nope: no such folder"):
        read_checkpoint_info(tmp_path / "nope")
    with pytest.raises(WeightsError, match="not a distributed checkpoint written by zoo"):
        read_checkpoint_info(tmp_path)
    (tmp_path / "zoo_spec.json").write_text("[" * 10_000)  # bounded: no RecursionError
    with pytest.raises(WeightsError, match="nests JSON"):
        read_checkpoint_info(tmp_path)
