"""Hub repo ids counted without their weights: config.json and the safetensors or GGUF headers,
through huggingface_hub's own calls, against a stand-in Hub on the loopback interface
(tests/hub_server.py) that serves real files. Cached, so that they work offline afterwards.
No test reaches the internet."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests import hub_server
from tests.headers_models import save_unknown, write_gguf
from tests.tiny import hf_model, tiny_spec
from zoo.accounting import count_params
from zoo.cli import main
from zoo.files import remote


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The stand-in Hub with five repos: a tiny llama (single file, and sharded), a BERT (an
    architecture zoo does not model), a repo with one GGUF file and one with two."""
    root = tmp_path_factory.mktemp("hub")
    model = hf_model(tiny_spec("llama"))
    model.save_pretrained(root / "llama")
    model.save_pretrained(root / "sharded", max_shard_size="200KB")
    save_unknown("bert", root / "bert")
    (root / "gguf").mkdir()
    counts = write_gguf(root / "gguf" / "model-q8_0.gguf", padding_values=200_000)
    (root / "two").mkdir()
    write_gguf(root / "two" / "a.gguf")
    write_gguf(root / "two" / "b.gguf")
    server = hub_server.start(hub_server.Hub(repos={
        "org/tiny-llama": root / "llama", "org/sharded": root / "sharded",
        "org/bert": root / "bert", "org/gguf": root / "gguf", "org/two-gguf": root / "two"}))
    server.gguf_total = sum(counts.values())  # type: ignore[attr-defined]
    yield server
    hub_server.stop(server)


@pytest.fixture
def online(hub, tmp_path, monkeypatch):
    """This test's caches (zoo's and Hugging Face's) and the stand-in Hub as HF_ENDPOINT."""
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("ZOO_HUB_CACHE", str(tmp_path / "zoo-hub"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    # huggingface_hub read HF_HUB_CACHE when it was imported; its calls that take no cache_dir
    # (get_safetensors_metadata's index) use the module's value
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    hub.log.clear()
    return hub


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def show_json(name: str, capsys) -> dict:
    assert main(["show", name, "--json"]) == 0, capsys.readouterr()
    return json.loads(capsys.readouterr().out)


def test_a_repo_is_counted_from_its_config_and_headers_then_cached(online, tmp_path,
                                                                   monkeypatch, capsys):
    data = show_json("org/tiny-llama", capsys)
    total = count_params(tiny_spec("llama")).total
    assert data["params"]["total"] == total == data["headers"]["total"]
    assert data["headers"]["comparison"]["agrees"] is True
    assert data["resolved"]["hub"]["commit"] == hub_server.COMMIT
    # the weights were not downloaded: one ranged read of the file's first 100 kB
    size = (online.repos["org/tiny-llama"] / "model.safetensors").stat().st_size
    assert 0 < online.sent("model.safetensors") <= 100_001 < size
    assert any(path == "/api/models/org/tiny-llama" for _, path, _ in online.log)
    folder = tmp_path / "zoo-hub" / "models--org--tiny-llama"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors",
                                                        remote.MARKER]
    assert (folder / "model.safetensors").stat().st_size < 100_000  # the header alone
    # afterwards: from the cache, offline, and with the Hub gone
    online.log.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert show_json("org/tiny-llama", capsys)["headers"]["total"] == total
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    assert show_json("org/tiny-llama", capsys)["params"]["total"] == total
    assert online.log == []
    assert main(["show", "org/tiny-llama"]) == 0
    out = capsys.readouterr().out
    assert "org/tiny-llama (hf) -> tiny-llama" in out
    assert "the headers' total equals the closed form" in out


def test_a_sharded_repo(online, capsys):
    data = show_json("org/sharded", capsys)
    assert data["headers"]["total"] == count_params(tiny_spec("llama")).total
    assert data["headers"]["source"].endswith("safetensors files")
    assert online.sent(".safetensors.index.json") > 0


def test_a_repo_of_an_architecture_zoo_does_not_know(online, capsys):
    data = show_json("org/bert", capsys)
    assert data["spec"] is None
    assert data["resolved"]["counted"] == ("counted from the tensor headers (architecture not "
                                           "recognised: bert)")
    size = (online.repos["org/bert"] / "model.safetensors").stat().st_size
    assert data["headers"]["total"] > 0 and online.sent("model.safetensors") < size


def test_a_gguf_repo_by_growing_prefixes(online, monkeypatch, capsys):
    monkeypatch.setattr(remote, "FIRST_PREFIX", 256)  # the header is longer: reads grow
    data = show_json("org/gguf", capsys)
    assert data["headers"]["total"] == online.gguf_total
    reads = [n for method, path, n in online.log if method == "GET" and path.endswith(".gguf")]
    size = (online.repos["org/gguf"] / "model-q8_0.gguf").stat().st_size
    assert len(reads) >= 2 and reads == sorted(reads) and sum(reads) < size // 4


def test_a_repo_with_several_gguf_files_names_them(online, capsys):
    assert main(["show", "org/two-gguf"]) == 2
    err = capsys.readouterr().err
    assert "has 2 GGUF files and no config.json: name one" in err and "a.gguf, b.gguf" in err
    assert show_json("org/two-gguf/b.gguf", capsys)["headers"]["tensors"] == 5
    assert show_json("org/two-gguf/a.gguf", capsys)["headers"]["tensors"] == 5


def test_compare_plan_verify_and_spec_take_repo_ids(online, capsys):
    assert main(["compare", "org/tiny-llama", "org/bert"]) == 0
    assert "not recognised: bert" in capsys.readouterr().out
    assert main(["plan", "org/tiny-llama", "--gpus", "2"]) == 0
    assert "KV cache" in capsys.readouterr().out
    assert main(["plan", "org/bert", "--gpus", "2"]) == 0
    assert "not computed" in capsys.readouterr().out
    assert main(["verify", "org/tiny-llama"]) == 0
    assert "tensor headers' total equals the closed form" in capsys.readouterr().out
    assert main(["spec", "org/tiny-llama", "--name", "t"]) == 0
    assert "read from org/tiny-llama" in capsys.readouterr().out


def test_the_hugging_face_cache_comes_first(online, tmp_path, capsys):
    """A repo whose snapshot (config and weights) is in the Hugging Face cache is read there."""
    snapshot = tmp_path / "hf" / "models--org--elsewhere" / "snapshots" / hub_server.COMMIT
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((online.repos["org/tiny-llama"] / name).read_bytes())
    assert show_json("org/elsewhere", capsys)["headers"]["comparison"]["agrees"] is True
    assert online.log == []


def test_errors_say_what_is_missing(online, monkeypatch, capsys):
    assert main(["show", "org/nothing"]) == 2
    assert (f"org/nothing: no such file or folder here, and no such model repo on the Hugging "
            f"Face Hub ({online.endpoint})" in capsys.readouterr().err)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["show", "org/bert"]) == 2
    assert "not in zoo's Hub cache" in capsys.readouterr().err
    monkeypatch.delenv("HF_HUB_OFFLINE")
    unreachable = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", unreachable)
    assert main(["show", "org/bert"]) == 2
    err = capsys.readouterr().err
    assert (f"cannot reach the Hugging Face Hub ({unreachable}) and org/bert is not in the "
            f"cache") in err
    assert len(err.strip().splitlines()) == 1


def test_a_repo_from_the_command_line_imports_no_torch(online, tmp_path):
    config = tmp_path / "config.json"
    config.write_text((online.repos["org/tiny-llama"] / "config.json").read_text())
    code = ("import sys; from zoo.cli import main;"
            f"assert main(['show', {str(config)!r}]) == 0;"
            "assert 'huggingface_hub' not in sys.modules, 'huggingface_hub for a local file';"
            "assert main(['show', 'org/bert']) == 0;"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "architecture not recognised: bert" in done.stdout


def test_a_failed_download_is_one_line(tmp_path, monkeypatch):
    import huggingface_hub

    from zoo.files.hub import resolve_folder

    def fails(repo_id, **options):
        if options.get("local_files_only"):
            raise FileNotFoundError("not cached")
        raise OSError("Got: ConnectError: no route\nAn error happened while trying to locate "
                      "the files on the Hub, and we cannot find the appropriate snapshot")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fails)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(FileNotFoundError) as caught:
        resolve_folder("someone/model")
    message = str(caught.value)
    assert "\n" not in message and message.endswith("OSError: Got: ConnectError: no route")
