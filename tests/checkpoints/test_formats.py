"""The formats table: every path recognised, its spec read without torch, loaded and saved
through one entry per format, and options a format does not take refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from tests.tiny import hf_model, tiny_spec
from zoo.checkpoints import FORMATS, detect, read_spec
from zoo.files import WeightsError


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
    code = ("import sys, zoo.checkpoints as f; "
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
    with pytest.raises(ValueError, match=r"unknown format 'onnx'; zoo writes gguf, dcp, zoo, hf"):
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


# --- names or files: count anything ---------------------------------------------------------

TINYLLAMA = Path(__file__).parents[1] / "data" / "tinyllama-1.1b"


def test_resolve_a_registry_name_or_any_file(checkpoints, smollm2_path):
    from zoo.checkpoints import resolve

    root, model = checkpoints
    assert resolve("GPT2-XL").spec.name == "gpt2-xl" and resolve("gpt2").format is None
    config = resolve(TINYLLAMA / "config.json")
    assert (config.format, config.spec.name, config.from_registry) == ("hf", "tinyllama-1.1b",
                                                                       False)
    # TinyLlama-1.1B's published config, counted as transformers counts it on meta
    assert zoo.count_params(config.spec).total == 1_100_048_384
    assert resolve(TINYLLAMA).spec == config.spec
    assert zoo.read_spec(TINYLLAMA / "config.json") == config.spec
    gguf_file = resolve(smollm2_path)
    assert (gguf_file.format, gguf_file.spec.name, gguf_file.from_registry) == \
        ("gguf", "smollm2-135m", True)
    assert "the registry's model of this exact architecture" in gguf_file.describe()
    for path, fmt in [("m.safetensors", "zoo"), ("hf", "hf"), ("hf/model.safetensors", "hf"),
                      ("hf/config.json", "hf"), ("dcp", "dcp")]:
        found = resolve(root / path)
        assert (found.format, found.spec.n_layer) == (fmt, model.spec.n_layer), path


def test_an_hf_safetensors_file_loads_as_its_checkpoint(checkpoints):
    root, model = checkpoints
    assert detect(root / "hf" / "model.safetensors").name == "hf"
    assert same_weights(zoo.load(root / "hf" / "model.safetensors"), model)


def test_resolve_errors(tmp_path):
    from zoo.checkpoints import resolve

    with pytest.raises(zoo.UnknownModelError, match="did you mean 'gpt2'"):
        resolve("gtp2")
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve(tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve("missing.gguf")
    (tmp_path / "lonely.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(WeightsError):
        resolve(tmp_path / "lonely.safetensors")


def test_commands_take_files_without_torch(checkpoints, smollm2_path, tmp_path):
    """show, compare, verify, plan and spec on a config.json, an HF folder, an HF safetensors
    file, a zoo file and a GGUF file: headers and metadata only."""
    root, _ = checkpoints
    files = [str(TINYLLAMA / "config.json"), str(root / "hf"), str(root / "hf" /
             "model.safetensors"), str(root / "m.safetensors"), str(smollm2_path)]
    code = ("import json, sys; from zoo.cli import main; files = json.loads(sys.argv[1]);"
            "assert all(main(['show', f]) == 0 for f in files);"
            "assert main(['compare', *files]) == 0;"
            "assert main(['verify', *files]) == 0;"
            "assert all(main(['plan', f, '--gpus', '2']) == 0 for f in files);"
            "assert main(['spec', files[0]]) == 0;"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(files)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tinyllama-1.1b" in done.stdout and "1,100,048,384" in done.stdout
    assert "(gguf) -> smollm2-135m" in done.stdout


def test_spec_entry_loads_back_to_the_same_architecture(tmp_path, smollm2_path, capsys):
    """`zoo spec FILE > folder/x.yaml` adds the file's model to the registry, equal in
    architecture; a name the registry has is refused unless renamed."""
    from zoo.checkpoints import resolve
    from zoo.cli import main
    from zoo.spec import architecture_key

    folder = tmp_path / "specs"
    folder.mkdir()
    for path, name in [(TINYLLAMA / "config.json", "tinyllama-1.1b"),
                       (smollm2_path, "smollm2-135m-instruct.q4_1")]:
        assert main(["spec", str(path)]) == 0
        (folder / f"{name}.yaml").write_text(capsys.readouterr().out)
    assert sorted(zoo.register_specs(folder)) == ["smollm2-135m-instruct.q4_1",
                                                  "tinyllama-1.1b"]
    for path, name in [(TINYLLAMA / "config.json", "tinyllama-1.1b"),
                       (smollm2_path, "smollm2-135m-instruct.q4_1")]:
        assert architecture_key(zoo.get_spec(name)) == architecture_key(resolve(path).spec)
    assert "read from" in zoo.get_spec("tinyllama-1.1b").hparams_source
    assert main(["spec", str(TINYLLAMA / "config.json")]) == 2  # now the registry has it
    assert "already has a model 'tinyllama-1.1b'" in capsys.readouterr().err
    assert main(["spec", str(TINYLLAMA / "config.json"), "--name", "tl", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entry"]["name"] == "tl"
