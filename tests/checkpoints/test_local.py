"""Local weights: the Hugging Face cache and zoo weights folders, found without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import zoo
from zoo.checkpoints.local import find_local
from zoo.cli import main


def fake_hf_cache(root, repo_id, nbytes):
    base = root / f"models--{repo_id.replace('/', '--')}"
    blob = base / "blobs" / "abc"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"\0" * nbytes)
    snapshot = base / "snapshots" / "rev1"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(blob)
    (snapshot / "config.json").write_text("{}")


def test_hf_cache_entries_are_found(tmp_path, monkeypatch, capsys):
    fake_hf_cache(tmp_path, "openai-community/gpt2", 12345)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path / "none"))
    found = find_local([zoo.get_spec("gpt2"), zoo.get_spec("gpt2-xl")])
    assert [(f.model, f.where, f.size) for f in found] == [("gpt2", "hf-cache", 12345)]
    assert main(["list", "--local", "--json"]) == 0
    assert [r["model"] for r in json.loads(capsys.readouterr().out)] == ["gpt2"]
    assert main(["show", "gpt2"]) == 0
    out = capsys.readouterr().out
    assert "weights (hf-cache)" in out and "rev1" in out
    assert main(["show", "gpt2-xl"]) == 0
    assert "hf download openai-community/gpt2-xl" in capsys.readouterr().out


def test_zoo_weights_folder(tmp_path, monkeypatch, write_yaml, capsys):
    spec_file = write_yaml("mine.yaml", "name: mine-tiny\nfamily: mine\nn_layer: 1\n"
                                        "d_model: 16\nn_head: 2\nd_ff: 32\nvocab_size: 20\n"
                                        "context_length: 8\n")
    monkeypatch.setenv("ZOO_SPECS", str(spec_file))
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    zoo.registry.REGISTRY.reset()
    zoo.save(zoo.create_model("mine-tiny", seed=0), tmp_path / "weights" / "a" / "m.safetensors")
    assert main(["list", "--local"]) == 0
    out = capsys.readouterr().out
    assert "mine-tiny" in out and "zoo" in out and "m.safetensors" in out
    code = "import sys, zoo.cli; zoo.cli.main(['list', '--local']); assert 'torch' not in " \
           "sys.modules"
    env = {"ZOO_SPECS": str(spec_file), "ZOO_WEIGHTS": str(tmp_path / "weights"),
           "HF_HUB_CACHE": str(tmp_path / "hub"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_distributed_checkpoints_are_listed_too(tmp_path, monkeypatch):
    """Every format the table marks listable is found by the names it declares: a distributed
    checkpoint (a folder marked by its .metadata) beside a zoo file, each under its model."""
    from tests.tiny import tiny_spec
    from zoo.checkpoints.local import LISTABLE, zoo_files

    weights = tmp_path / "weights"
    zoo.save(zoo.create_model(tiny_spec("gpt2").with_changes(name="tiny-a"), seed=0),
             weights / "m.safetensors")
    zoo.save(zoo.create_model(tiny_spec("llama").with_changes(name="tiny-b"), seed=0),
             weights / "ckpt", format="dcp")
    monkeypatch.setenv("ZOO_WEIGHTS", str(weights))
    assert {name: [w.path for w in ws] for name, ws in zoo_files().items()} == {
        "tiny-a": [weights / "m.safetensors"], "tiny-b": [weights / "ckpt"]}
    assert {fmt.name for fmt in LISTABLE} >= {"zoo", "dcp"}


def test_nothing_local(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path))
    assert main(["list", "gpt2", "--local"]) == 1
    assert "no weights" in capsys.readouterr().out


def test_corrupt_files_in_a_weights_folder_hide_nothing(tmp_path, monkeypatch, capsys):
    """Files that are not what their names say, beside a good one: every command still works
    and lists the good one."""
    import os

    from tests.tiny import tiny_spec

    weights = tmp_path / "weights"
    weights.mkdir()
    zoo.save(zoo.create_model(tiny_spec("gpt2").with_changes(name="gpt2"), seed=0),
             weights / "good.safetensors")
    (weights / "index.safetensors.index.json").write_text('{"weight_map": {"a": 5}}')
    (weights / "escape.safetensors.index.json").write_text('{"weight_map": {"a": "../x"}}')
    (weights / "bytes.safetensors.index.json").write_bytes(b"\xff\xfe")
    header = b'{"__metadata__": {"zoo_spec": 5}}'
    (weights / "meta.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    (weights / "a.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 40)
    (weights / "dcp").mkdir()
    (weights / "dcp" / ".metadata").write_bytes(b"not a pickle")
    (weights / "dcp" / "zoo_spec.json").write_text("[1]")
    (weights / "dir.safetensors").mkdir()
    (weights / "dangling.safetensors").symlink_to(tmp_path / "nowhere")
    (weights / os.fsdecode(b"\xff.safetensors")).write_bytes(b"")
    monkeypatch.setenv("ZOO_WEIGHTS", str(weights))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["show", "gpt2"]) == 0
    assert "good.safetensors" in capsys.readouterr().out
    assert main(["list", "gpt2", "--local", "--json"]) == 0
    assert [r["path"] for r in json.loads(capsys.readouterr().out)] == [
        str(weights / "good.safetensors")]


def test_file_name_that_is_not_utf8(tmp_path):
    """Listed with its name as the bytes it is, whatever the terminal's encoding settings."""
    import os

    from tests.tiny import tiny_spec

    name = b"\xff\xfe.safetensors"
    zoo.save(zoo.create_model(tiny_spec("gpt2").with_changes(name="gpt2"), seed=0),
             tmp_path / os.fsdecode(name))
    env = {"ZOO_WEIGHTS": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"),
           "PYTHONIOENCODING": "utf-8:strict", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "zoo", "list", "gpt2", "--local"],
                          capture_output=True, env=env)
    assert done.returncode == 0 and name in done.stdout, done.stderr


def test_every_copy_is_listed_and_a_name_loads_the_first(tmp_path, monkeypatch, capsys):
    """Two copies of one registry model in the weights folders are both listed, and loading
    the model by name takes the first one `list --local` shows instead of trying the Hub."""
    from tests.tiny import tiny_spec
    from zoo.text import resolve_model

    weights = tmp_path / "weights"
    model = zoo.create_model(tiny_spec("gpt2").with_changes(name="gpt2"), seed=0)
    zoo.save(model, weights / "a" / "one.safetensors")
    zoo.save(model, weights / "b" / "two.safetensors")
    monkeypatch.setenv("ZOO_WEIGHTS", str(weights))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["list", "gpt2", "--local", "--json"]) == 0
    paths = [r["path"] for r in json.loads(capsys.readouterr().out)]
    assert paths == [str(weights / "a" / "one.safetensors"), str(weights / "b" / "two.safetensors")]
    loaded = resolve_model("gpt2")
    assert loaded.spec.n_layer == model.spec.n_layer  # the tiny copy, not the published model


def test_spec_of_a_checkpoint_names_it(tmp_path, monkeypatch, capsys):
    """`zoo spec` of a local checkpoint writes where it is: show says so (not "not public"),
    list --local finds it, and the new name loads it."""
    from tests.tiny import tiny_spec
    from zoo.text import resolve_model

    checkpoint = tmp_path / "mine.safetensors"
    zoo.save(zoo.create_model(tiny_spec("llama").with_changes(name="tiny-mine"), seed=0),
             checkpoint)
    assert main(["spec", str(checkpoint), "--name", "my-llama"]) == 0
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "mine.yaml").write_text(capsys.readouterr().out)
    monkeypatch.setenv("ZOO_SPECS", str(tmp_path / "specs"))
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path / "none"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    zoo.registry.REGISTRY.reset()
    try:
        assert main(["show", "my-llama"]) == 0
        out = capsys.readouterr().out
        assert "local checkpoint /" in out and "not public" not in out  # the path may wrap
        assert "weights (spec)" in out
        assert main(["list", "my-llama", "--local", "--json"]) == 0
        assert [r["path"] for r in json.loads(capsys.readouterr().out)] == [str(checkpoint)]
        assert resolve_model("my-llama").spec.n_layer == tiny_spec("llama").n_layer
    finally:
        monkeypatch.delenv("ZOO_SPECS")
        zoo.registry.REGISTRY.reset()
