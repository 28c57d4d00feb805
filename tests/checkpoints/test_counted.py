"""Anything with weights is counted from its tensor headers: safetensors files, folders and
sharded sets, GGUF files, of any architecture, exactly as transformers counts the model; the
names split the total into components; a config beside the weights is checked against them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from tests.headers_models import GGUF_ARCH, UNKNOWN, save_unknown, unknown_model, write_gguf
from tests.tiny import FAMILIES, hf_model, tiny_spec
from zoo.accounting import count_params
from zoo.accounting.headers import HEADER_COMPONENTS, TensorInfo, count_headers
from zoo.architectures import ARCHITECTURES
from zoo.checkpoints.counted import count_target
from zoo.cli import main
from zoo.files import WeightsError


@pytest.fixture(scope="module")
def unknown(tmp_path_factory) -> dict[str, tuple[Path, int]]:
    """Each architecture of UNKNOWN saved by save_pretrained, with transformers' count."""
    root = tmp_path_factory.mktemp("unknown")
    return {kind: (root / kind, save_unknown(kind, root / kind)) for kind in UNKNOWN}


@pytest.mark.parametrize("model_type", list(UNKNOWN))
def test_headers_count_any_architecture_exactly(unknown, model_type):
    folder, expected = unknown[model_type]
    for path in (folder, folder / "model.safetensors"):
        counted = count_target(path)
        assert counted.headers is not None
        assert counted.headers.total == expected  # transformers' own parameter count
        assert sum(counted.headers.components.values()) == expected
        if model_type in ARCHITECTURES:  # a family zoo has learned since: the forms agree
            assert counted.check is not None and counted.check.agrees
        else:
            assert counted.spec is None
            assert counted.what == (f"counted from the tensor headers (architecture not "
                                    f"recognised: {model_type})")


def test_a_sharded_set_is_counted_through_its_index(tmp_path):
    expected = save_unknown("mamba", tmp_path / "m", max_shard_size="50KB")
    index = tmp_path / "m" / "model.safetensors.index.json"
    assert index.is_file()
    shards = len(set(json.loads(index.read_text())["weight_map"].values()))
    assert shards > 1
    for path in (tmp_path / "m", index):
        headers = count_target(path).headers
        assert headers is not None and headers.total == expected
        assert headers.source.endswith(f"in {shards} safetensors files")


def test_a_tied_head_is_stored_once_by_transformers_and_twice_by_others(tmp_path):
    """transformers saves a tied head once (the headers equal its count, which counts it once);
    a file that stores lm_head as well (as many published checkpoints do) holds it twice, and
    its headers count what it stores."""
    from safetensors.torch import save_file

    model = unknown_model("mamba")  # ties its head
    expected = sum(p.numel() for p in model.parameters())
    model.save_pretrained(tmp_path / "once")
    assert count_target(tmp_path / "once").headers.total == expected
    state = {name: t.detach().clone().contiguous() for name, t in model.state_dict().items()}
    assert "lm_head.weight" in state
    (tmp_path / "twice").mkdir()
    save_file(state, tmp_path / "twice" / "model.safetensors", metadata={"format": "pt"})
    shutil.copy(tmp_path / "once" / "config.json", tmp_path / "twice")
    headers = count_target(tmp_path / "twice").headers
    assert headers.total == expected + model.lm_head.weight.numel()
    assert headers.components["head"] == model.lm_head.weight.numel()


def _save_state(state: dict[str, torch.Tensor], folder: Path, config_from: Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir()
    save_file({n: t.detach().clone().contiguous() for n, t in state.items()},
              folder / "model.safetensors", metadata={"format": "pt"})
    shutil.copy(config_from / "config.json", folder)


def test_a_known_family_is_checked_against_its_closed_form(tmp_path):
    """A tied head stored twice, and a layer past the class's (an MTP layer), explained."""
    spec = tiny_spec("qwen2")  # ties its head
    count = count_params(spec)
    hf = hf_model(spec)
    hf.save_pretrained(tmp_path / "saved")
    counted = count_target(tmp_path / "saved")
    assert counted.spec is not None and counted.check is not None and counted.check.agrees
    assert counted.headers.total == count.total
    state = dict(hf.state_dict())
    extra = {name.replace("model.layers.1.", "model.layers.2."): t
             for name, t in state.items() if name.startswith("model.layers.1.")}
    _save_state({**state, **extra}, tmp_path / "published", tmp_path / "saved")
    check = count_target(tmp_path / "published").check
    layer = count.layers[1].total
    assert check is not None and check.difference == count.head_if_untied + layer
    assert check.unexplained == 0
    warning = check.warning()
    assert f"{count.total + count.head_if_untied + layer:,}" in warning
    assert f"{count.total:,}" in warning
    assert "ties it" in warning and "layer 2 (the spec has 2" in warning


def test_buffers_a_checkpoint_stores_are_not_parameters(tmp_path):
    """DeepSeek-V3 keeps its routing bias as a buffer, and transformers saves it: shown with
    its size, not counted."""
    spec = tiny_spec("deepseek-v3")
    hf = hf_model(spec)
    hf.save_pretrained(tmp_path)
    counted = count_target(tmp_path)
    buffers = sum(b.numel() for n, b in hf.named_buffers() if "e_score_correction_bias" in n)
    assert buffers and counted.headers.buffers.params == buffers
    assert counted.headers.total == count_params(spec).total and counted.check.agrees


@pytest.mark.parametrize("family", list(FAMILIES))
def test_names_place_every_tensor_of_the_known_families(family):
    """The tensors transformers saves for each family zoo builds (on meta: names and shapes),
    placed by name: every component equals the closed form's, and OPT-350M's projections (the
    closed form's extras) are other; buffers are not counted."""
    import transformers

    from zoo.testing import transformers_config

    spec = tiny_spec(family)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers_config(spec))
    state = model.state_dict()
    if spec.tie_embeddings:  # saved once, as the embedding (BioGPT's output_projection)
        head = model.get_output_embeddings()
        state.pop(next(f"{n}.weight" for n, m in model.named_modules() if m is head))
    headers = count_headers([TensorInfo(n, tuple(t.shape), "F32") for n, t in state.items()],
                            family)
    closed = count_params(spec).components
    expected = {name: closed.get(name, 0) for name in HEADER_COMPONENTS}
    expected["other"] = closed["extras"]
    assert headers.components == expected
    assert headers.total == count_params(spec).total


def test_a_gguf_file_of_an_unknown_architecture(tmp_path):
    counts = write_gguf(tmp_path / "x.gguf")
    counted = count_target(tmp_path / "x.gguf")
    assert counted.spec is None
    assert counted.what == (f"counted from the tensor headers (architecture not recognised: "
                            f"{GGUF_ARCH})")
    headers = counted.headers
    assert headers.total == sum(counts.values())
    assert headers.components["token_embedding"] == counts["token_embd.weight"]
    assert headers.components["head"] == counts["output.weight"]
    assert headers.components["norms"] == 2 * 32
    assert headers.unclassified == ("blk.0.time_mix_key.weight",)
    assert headers.dtypes["Q8_0"].bytes == counts["blk.0.time_mix_key.weight"] // 32 * 34
    assert headers.dtypes["F16"].bytes == 2 * counts["output.weight"]


def test_a_known_gguf_file_agrees_with_its_metadata(smollm2_path):
    counted = count_target(smollm2_path)
    assert counted.check is not None and counted.check.agrees
    assert counted.headers.components["other"] == 0
    assert set(counted.headers.dtypes) == {"F32", "Q4_1", "Q8_0"}


def test_show_a_safetensors_file_without_config(unknown, tmp_path, capsys):
    """Before: refused ('pass spec= to zoo.load'); now counted from its headers."""
    folder, expected = unknown["mamba"]
    lonely = tmp_path / "lonely.safetensors"
    shutil.copy(folder / "model.safetensors", lonely)
    assert main(["show", str(lonely)]) == 0
    out = capsys.readouterr().out
    assert ("counted from the tensor headers (no config.json beside it and no zoo spec in its "
            "metadata)") in out
    assert f"{expected:,}" in out
    assert main(["show", str(lonely), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    headers = data["headers"]
    assert data["spec"] is None and headers["total"] == expected
    assert sum(headers["components"].values()) == expected
    assert headers["dtypes"]["F32"] == {"tensors": headers["tensors"], "params": expected,
                                        "bytes": 4 * expected}
    # Mamba's mixers are placed by name as its token mixer's (the attention component)
    assert headers["unclassified"]["count"] == 0 and headers["components"]["other"] == 0
    assert headers["components"]["attention"] > 0
    assert headers["comparison"] is None
    with pytest.raises(WeightsError, match=r"pass spec= to zoo\.load"):  # loading needs one
        zoo.load(lonely)


def test_show_json_of_a_known_checkpoint_has_the_comparison(tmp_path, capsys):
    hf_model(tiny_spec("llama")).save_pretrained(tmp_path)
    assert main(["show", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["headers"]["total"] == data["params"]["total"]
    assert data["headers"]["comparison"]["agrees"] is True


def test_plan_and_compare_from_headers(unknown, capsys):
    folder, expected = unknown["bert"]
    assert main(["plan", str(folder), "--gpus", "2", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["per_device"]["weights bf16 (sharded)"] == expected  # 2 bytes each, halved
    assert "architecture not recognised: bert" in \
        plan["not_computed"]["KV cache (or recurrent state)"]
    assert main(["plan", str(folder), "--gpus", "1", "--train"]) == 0
    out = capsys.readouterr().out
    assert "activations" in out and "not computed" in out and "at least" in out
    assert main(["plan", str(folder), "--gpus", "1", "--context", "8"]) == 2
    assert "--context needs the architecture" in capsys.readouterr().err
    assert main(["compare", "gpt2", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{expected:,}" in out and "124,439,808" in out
    assert main(["verify", str(folder)]) == 2
    assert "no closed form to verify" in capsys.readouterr().err


def test_packed_weights_without_a_rule_are_refused_by_name(tmp_path, capsys):
    from safetensors.torch import save_file

    save_file({"model.layers.0.mlp.down_proj.qweight": torch.zeros(4, 8, dtype=torch.int32)},
              tmp_path / "q.safetensors")
    assert main(["show", str(tmp_path / "q.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "'model.layers.0.mlp.down_proj.qweight' is stored as I32" in err


def test_headers_commands_import_no_torch(unknown, tmp_path):
    write_gguf(tmp_path / "x.gguf")
    files = [str(unknown["bert"][0]), str(unknown["rwkv"][0] / "model.safetensors"),
             str(tmp_path / "x.gguf")]
    code = ("import json, sys; from zoo.cli import main; files = json.loads(sys.argv[1]);"
            "assert all(main(['show', f]) == 0 for f in files);"
            "assert main(['compare', *files]) == 0;"
            "assert all(main(['plan', f, '--gpus', '2']) == 0 for f in files);"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(files)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "architecture not recognised: bert" in done.stdout
