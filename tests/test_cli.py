"""The command line: tables for people, --json for scripts, clear errors, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert "gpt2-xl" in out and "bloom-176b" in out and "1.558B" in out
    header = out.splitlines()[0].split()
    assert header == ["name", "family", "layers", "d_model", "heads", "d_ff", "context", "vocab",
                      "params", "active", "reported", "year"]


def test_list_json_filters_and_sorts(capsys):
    _code, out, _ = run(capsys, "list", "gpt2*", "--json", "--sort", "params")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"]
    assert rows[-1]["params"] == 1_557_611_200 and rows[-1]["d_ff"] == 6400
    _, out, _ = run(capsys, "list", "--family", "llama", "--sort", "year", "--json")
    assert {r["family"] for r in json.loads(out)} == {"llama"}
    _, out, _ = run(capsys, "list", "--sort", "name", "--json")
    names = [r["name"] for r in json.loads(out)]
    assert names == sorted(names)


def test_list_no_match(capsys):
    code, out, _ = run(capsys, "list", "nonesuch*")
    assert code == 1 and "no model matches" in out


def test_list_unknown_family_names_the_families_as_text_and_json(capsys):
    code, _, err = run(capsys, "list", "--family", "qwen")
    assert code == 2 and "no family 'qwen' (did you mean 'qwen3'?)" in err and "gpt2" in err
    code, out, _ = run(capsys, "list", "--family", "nosuch", "--json")
    assert code == 2 and "the families are" in json.loads(out)["error"]["message"]


def test_context_past_the_model_s_is_a_warning(capsys):
    code, out, err = run(capsys, "show", "gpt2", "--context", "100000")
    assert code == 0 and "zoo: warning: --context 100,000 is past gpt2's context of 1,024" in err
    _, out, err = run(capsys, "show", "gpt2", "--context", "1024", "--json")
    assert json.loads(out)["warnings"] == [] and not err


def test_typos_suggest_each_model_once_and_tolerance_is_a_fraction(capsys):
    code, _, err = run(capsys, "show", "gpt2-xk")
    assert code == 2 and err.count("gpt2-xl") == 1 and "gpt-2-xl" not in err
    code, _, err = run(capsys, "verify", "gpt2", "--tolerance", "5")
    assert code == 2 and "--tolerance: expected a relative tolerance >= 0 and <= 1" in err


def test_a_wrapped_text_decoder_says_it_is_a_part(capsys, tmp_path):
    """Gemma 3's image-text config is counted as its text decoder: show, --json and plan say
    that the vision tower is left out, never silently, and show gives the whole checkpoint
    (transformers' count) beside it."""
    data = json.loads((Path(__file__).parent / "data" / "causal_lm_counts.json").read_text())
    config = tmp_path / "config.json"
    config.write_text(json.dumps(data["types"]["gemma3"]["config"]))
    code, out, _ = run(capsys, "show", str(config))
    assert code == 0 and "text decoder of a Gemma3ForConditionalGeneration" in out
    assert "whole checkpoint" in out and "2,723,312,896 parameters" in out
    _, out, _ = run(capsys, "show", str(config), "--json")
    shown = json.loads(out)
    assert "without its SigLIP vision tower" in shown["part_of"]
    assert shown["whole_checkpoint"] == {"params": 2_723_312_896, "rest": 94_654_464}
    _, out, _ = run(capsys, "plan", str(config), "--gpus", "1")
    assert "counts the text decoder" in out and "94,654,464 parameters, not in" in out
    _, out, _ = run(capsys, "show", "gpt2", "--json")
    assert json.loads(out)["part_of"] is None


def test_json_may_come_before_the_command(capsys):
    code, out, _ = run(capsys, "--json", "list", "gpt2")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["gpt2"]


def test_show_json_exact_total(capsys):
    code, out, _ = run(capsys, "show", "gpt3-175b", "--json")
    data = json.loads(out)
    assert code == 0 and data["params"]["total"] == 174_604_259_328
    assert data["spec"]["n_layer"] == 96 and data["spec"]["unpublished"] == ["local_window"]
    assert data["params"]["kv_cache"]["bytes_per_token"]["bf16"] == 2 * 96 * 12288 * 2


def test_show_table_mentions_everything(capsys):
    code, out, _ = run(capsys, "show", "gpt3-13b", "--layers")
    assert code == 0
    for fragment in ["d_model", "5140", "Table 2.1", "internally inconsistent",
                     "local_window is not published", "token embedding", "KV cache per token",
                     "forward FLOPs", "training memory", "non-embedding", "Kaplan",
                     "weights int4", "quantization scales not counted"]:
        assert fragment in out, fragment
    assert out.count("\n39 ") == 1 or " 39 " in out  # the per-layer table reaches layer 39


def test_assumed_figures_carry_their_caveat_in_show_compare_and_plan(capsys):
    dense = "[assumes the unpublished local_window 128; dense: 9.664 GB]"
    _, out, _ = run(capsys, "show", "gpt3-175b")
    assert f"5.134 GB bf16 per sequence {dense}" in out
    assert "173,961,535,488 (174.0B)" in out  # non-embedding, four figures kept
    _, out, _ = run(capsys, "compare", "gpt3-175b", "bloom-176b")
    assert "5.134 GB [assumes the" in out and "dense: 358.8" in out.replace("\n", " ")
    _, out, _ = run(capsys, "plan", "gpt3-175b", "--gpus", "8")
    assert f"5.134 GB {dense}" in out
    _, out, _ = run(capsys, "plan", "gpt3-175b", "--gpus", "8", "--json")
    assert json.loads(out)["caveats"][0]["under_alternative"]["total_per_device"] == \
        61_848_634_368
    _, out, _ = run(capsys, "show", "gpt3-175b", "--json")
    assert json.loads(out)["params"]["caveats"][0]["field"] == "local_window"


def test_show_tied_head(capsys):
    _, out, _ = run(capsys, "show", "gpt2")
    assert "tied" in out and "head counted separately" in out and "163,037,184" in out


def test_compare(capsys):
    code, out, _ = run(capsys, "compare", "gpt2", "gpt2-xl", "llama-2-70b")
    assert code == 0
    lines = out.splitlines()
    assert "gpt2-xl" in lines[0] and "llama-2-70b" in lines[0]
    assert any(line.startswith("d_ff") and "6400" in line and "28672" in line for line in lines)
    _, out, _ = run(capsys, "compare", "gpt2", "opt-350m", "--json")
    assert [d["name"] for d in json.loads(out)] == ["gpt2", "opt-350m"]


def test_unknown_model_is_a_clear_error(capsys):
    code, _, err = run(capsys, "show", "gtp2")
    assert code == 2 and "unknown model 'gtp2'" in err and "did you mean" in err


def test_verify_reported(capsys):
    code, out, _ = run(capsys, "verify", "gpt2", "bloom-176b", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 0
    assert checks["gpt2"]["status"] == "flagged"  # 124.4M against the paper's 117M
    assert checks["bloom-176b"]["status"] == "ok" and checks["bloom-176b"]["exact"] == \
        checks["bloom-176b"]["reported"]


def test_verify_exits_nonzero_on_inconsistent_spec(capsys):
    code, out, _ = run(capsys, "verify", "gpt3-1.3b")
    assert code == 1 and "internally inconsistent" in out and "3072" in out
    code, _, _ = run(capsys, "verify")
    assert code == 1  # the GPT-3 table's two self-contradicting rows


def test_verify_claims_yaml(capsys, tmp_path):
    claims = tmp_path / "lecture.yaml"
    claims.write_text(
        "- {name: gpt2-xl, layers: 48, d_model: 1600, d_ff: 1600, params: 1.5B}\n"
        "- {model: GPT-2 small, params: 117M}\n"
        "- {name: gpt2, params: 124M, heads: 12}\n")
    code, out, _ = run(capsys, "verify", "--claims", str(claims), "--json")
    data = json.loads(out)
    assert code == 1
    verdicts = {(c["name"], c["field"]): c["verdict"] for c in data["claims"]}
    assert verdicts[("gpt2-xl", "d_ff")] == "WRONG"
    assert verdicts[("gpt2-xl", "n_layer")] == "ok"
    assert verdicts[("gpt2-xl", "params")] == "ok"
    assert verdicts[("GPT-2 small", "params")] == "unresolved"
    assert verdicts[("gpt2", "params")] == "ok" and verdicts[("gpt2", "n_head")] == "ok"
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["GPT-2 small"]["model"] is None
    assert "unknown model 'GPT-2 small'" in rows["GPT-2 small"]["resolution"]["why"]


def test_verify_claims_csv(capsys, tmp_path):
    claims = tmp_path / "blog.csv"
    claims.write_text("Model,Layers,d_ff,Parameters\ngpt2-xl,48,6400,1.56B\nopt-66b,64,36864,66B\n")
    code, out, _ = run(capsys, "verify", "--claims", str(claims))
    assert code == 0, out
    assert "6 of 6 claims hold" in out


def test_verify_claims_bad_column(capsys, tmp_path):
    claims = tmp_path / "bad.csv"
    claims.write_text("name,layerz\ngpt2,12\n")
    code, _, err = run(capsys, "verify", "--claims", str(claims))
    assert code == 2 and "unknown claim column 'layerz'" in err and "bad.csv" in err


def test_python_m_zoo_and_no_torch():
    code = ("import sys; from zoo.cli import main; import zoo;"
            "main(['list']); main(['show', 'bloom-176b']); main(['compare', 'gpt2', 'gpt2-xl']);"
            "zoo.count_params('gpt3-175b');"
            "assert 'torch' not in sys.modules, 'torch was imported';"
            "assert 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "zoo", "show", "gpt2", "--json"], check=True,
                          capture_output=True, text=True)
    assert json.loads(done.stdout)["params"]["total"] == 124_439_808


@pytest.mark.parametrize("argv", [["show"], ["list", "--sort", "size"], ["nope"],
                                  ["plan", "gpt2", "--gpus", "1", "--gpu-memory", "80"]])
def test_bad_arguments_exit_2(argv, capsys):
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out and "usage: zoo" in err and "error:" in err


def test_a_memory_size_needs_its_unit(capsys):
    code, _, err = run(capsys, "plan", "gpt2", "--gpus", "1", "--gpu-memory", "80")
    assert code == 2 and "did you mean '80GB'?" in err
    code, out, _ = run(capsys, "plan", "gpt2", "--gpus", "1", "--gpu-memory", "80GiB", "--json")
    assert code == 0 and json.loads(out)["device_memory"] == 80 * 2**30


JSON_ERRORS = [
    ["list", "--sort", "size"], ["show", "gtp2"], ["show"], ["compare", "gpt2", "nope"],
    ["verify", "nope"], ["verify", "--claims", "/nonexistent/claims.csv"],
    ["convert", "/nonexistent.safetensors", "out.safetensors"],
    ["plan", "gpt2", "--gpus", "1", "--gpu-memory", "80"], ["plan", "gpt2", "--gpus", "0"],
    ["spec", "/nonexistent/config.json"], ["plot", "breakdown"],
    ["site", "/nonexistent/folder/out"],
    ["generate", "/nonexistent.gguf", "--prompt", "hi"], ["nope"],
    ["eval", "/nonexistent.gguf", "/nonexistent.txt"],
    ["finetune", "/nonexistent.gguf", "/nonexistent.txt", "--steps", "1"],
    ["distributed", "export", "/nonexistent-checkpoint", "out.safetensors"],
]


@pytest.mark.parametrize("argv", JSON_ERRORS)
def test_json_errors_for_every_command(argv, capsys):
    """Under --json a script gets a JSON object on stdout, and a non-zero status, whatever
    went wrong: a usage error as much as a missing file."""
    code, out, _ = run(capsys, *argv, "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["type"] and error["message"]


def test_every_command_is_covered_by_the_json_error_test():
    from zoo.cli import COMMANDS

    assert set(COMMANDS) <= {argv[0] for argv in JSON_ERRORS}


def test_verify_against_transformers(capsys):
    """--transformers adds transformers' count to the check of the reported figures: it
    replaces nothing, and an inconsistent spec still fails."""
    pytest.importorskip("transformers")
    code, out, _ = run(capsys, "verify", "gpt2", "gpt3-1.3b", "--transformers", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 1  # gpt3-1.3b breaks the relation its source asserts, as without the flag
    assert rows["gpt2"]["transformers"]["count"] == rows["gpt2"]["exact"] == 124_439_808
    assert rows["gpt2"]["transformers"]["status"] == "equal"
    assert rows["gpt2"]["reported"] == 117_000_000 and rows["gpt2"]["status"] == "flagged"
    assert rows["gpt3-1.3b"]["transformers"]["status"] == "no transformers class"
    assert rows["gpt3-1.3b"]["status"] == "inconsistent"
    code, out, _ = run(capsys, "verify", "gpt3-1.3b", "--transformers")
    assert code == 1
    assert "internally inconsistent" in out and "GPT-3 paper" in out and "transformers" in out


def test_mixtures_show_total_and_active(capsys):
    code, out, _ = run(capsys, "list", "--family", "deepseek-v3")
    assert code == 0 and "671.0B" in out and "37.55B" in out
    code, out, _ = run(capsys, "show", "gpt-oss-20b")
    assert "3,608,307,264" in out and "gpt-oss model card" in out and "experts" in out
    _, out, _ = run(capsys, "show", "qwen3-30b-a3b", "--json")
    active = json.loads(out)["params"]["active"]
    assert active == {"all": 3_353_032_704, "no_embedding": 3_041_867_776,
                      "no_embedding_no_head": 2_730_702_848}
    _, out, _ = run(capsys, "compare", "mixtral-8x7b", "gpt2")
    assert "active per token" in out and "12.88B" in out


@pytest.mark.parametrize("argv", [["list"], ["show", "gpt3-175b", "--layers"],
                                  ["list", "--json"]])
def test_closed_pipe_exits_quietly(argv):
    """`zoo list | head`, `zoo list | true`: the reader went away before (or while) zoo wrote."""
    import os

    read, write = os.pipe()
    os.close(read)  # nobody will read: every write fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "zoo", *argv], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "lots"])
def test_tolerance_must_be_a_non_negative_number(value, capsys):
    code, _, err = run(capsys, "verify", "gpt2", "--tolerance", value)
    assert code == 2 and "expected a relative tolerance >= 0" in err


def test_plan_refuses_zero_memory(capsys):
    code, _, err = run(capsys, "plan", "gpt2", "--gpus", "1", "--gpu-memory", "0GB")
    assert code == 2 and "device memory must be positive" in err


@pytest.mark.parametrize(("dst", "options", "fragment"), [
    ("out.safetensors", ["--max-shard-size", "0B"], "max_shard_size must be at least 1 byte"),
    ("out.safetensors", ["--max-shard-size", "5"], "has no unit; did you mean .5GB."),
    ("out.safetensors", ["--max-shard-size", "lots"], "not a number"),
    ("out.bin", ["--format", "zoo"], "weights are saved as .safetensors"),
    ("file/out.safetensors", [], "file: is a file"),
    ("file/deeper/out.safetensors", [], "cannot be created, .*file is a file"),
    ("file", ["--format", "hf"], "file: is a file; hf checkpoints are saved into a folder"),
    ("out-dcp", ["--format", "dcp", "--max-shard-size", "1GB"],
     "--max-shard-size does not apply to the dcp format"),
    ("out.gguf", ["--format", "hf"], "out.gguf: hf checkpoints are saved into a folder, and "
                                     "this name reads as a gguf file"),
    ("out.bin", ["--format", "gguf"], r"gguf checkpoints are one file named \*\.gguf"),
    ("out.gguf", ["--gguf-type", "Q4_K"], "invalid choice: 'Q4_K'"),
    ("model.pt", ["--format", "dcp"], "reads as a pickle file"),
])
def test_convert_checks_its_destination_before_loading(tmp_path, monkeypatch, capsys, dst,
                                                        options, fragment):
    import re

    import zoo.checkpoints

    def no_loading(*args, **kwargs):
        raise AssertionError("loaded the model before checking the destination")

    monkeypatch.setattr(zoo.checkpoints, "load", no_loading)
    (tmp_path / "file").write_text("not a folder")
    code, _, err = run(capsys, "convert", "gpt2.safetensors", str(tmp_path / dst), *options)
    assert code == 2 and re.search(fragment, err), err


# --- eval and finetune, on a tiny model saved with a byte-level tokenizer beside it ------------

DATA = Path(__file__).parent / "data"


@pytest.fixture
def tiny_folder(tmp_path):
    pytest.importorskip("torch")
    import zoo
    from zoo.testing import byte_tokenizer, tiny_spec

    model = zoo.create_model(tiny_spec("llama").with_changes(vocab_size=256), seed=0)
    zoo.save(model, tmp_path / "tiny")
    byte_tokenizer().save(tmp_path / "tiny")
    return tmp_path / "tiny"


def test_eval_json_and_table(capsys, tiny_folder, tmp_path):
    from zoo.perplexity import evaluate

    text = tmp_path / "excerpt.txt"
    text.write_text((DATA / "harbour.txt").read_text()[:1500])
    code, out, _ = run(capsys, "eval", str(tiny_folder), str(text), "--context", "64",
                       "--stride", "48", "--batch", "4", "--json", "--quiet")
    data = json.loads(out)
    assert code == 0 and data["model"] == "tiny-llama" and data["scored"] == data["tokens"] - 1
    expected = evaluate(tiny_folder, text.read_text(), context=64, stride=48, progress=False)
    assert data["loss"] == pytest.approx(expected.loss, rel=1e-6)
    assert data["perplexity"] == pytest.approx(expected.perplexity, rel=1e-6)
    assert data["tokens_per_second"] > 0 and data["stride"] == 48 and data["windows"] == 31
    code, out, _ = run(capsys, "eval", str(tiny_folder), str(text), "--context", "64",
                       "--stride", "48", "--dtype", "bf16", "--quiet")
    assert code == 0 and "perplexity" in out and "stride 48" in out and "tokens/s" in out
    bf16 = float(out.split("perplexity ")[1].split(",")[0])
    assert bf16 == pytest.approx(expected.perplexity, rel=0.05)


def test_eval_reads_a_pipe(capsys, tiny_folder, tmp_path):
    """A file is read a window at a time (twice: counted, then read); a pipe, which can be read
    once, is read whole, as `zoo eval MODEL <(zcat corpus.gz)` gives it."""
    import contextlib
    import os
    import threading

    excerpt = (DATA / "harbour.txt").read_text()[:600]
    (tmp_path / "excerpt.txt").write_text(excerpt)
    code, from_file, _ = run(capsys, "eval", str(tiny_folder), str(tmp_path / "excerpt.txt"),
                             "--context", "64", "--json", "--quiet")
    assert code == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = threading.Event()

    def write() -> None:
        fifo.write_text(excerpt)
        while not done.wait(0.05):  # a second open of the pipe gets an end, never a hang
            with contextlib.suppress(OSError):  # nobody is reading
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        code, from_pipe, _ = run(capsys, "eval", str(tiny_folder), str(fifo), "--context", "64",
                                 "--json", "--quiet")
    finally:
        done.set()
        writer.join()
    assert code == 0
    assert json.loads(from_pipe)["loss"] == json.loads(from_file)["loss"]


def test_generate_and_eval_quantized(capsys, tiny_folder, tmp_path):
    import zoo
    from zoo.perplexity import evaluate
    from zoo.text import resolve_model

    code, out, _ = run(capsys, "generate", str(tiny_folder), "--prompt", "The harbour",
                       "--max-new-tokens", "6", "--quantize", "int8", "--json")
    packed = resolve_model(tiny_folder, quantize="int8")
    assert packed.quantized == "int8"
    assert code == 0
    assert json.loads(out)["text"] == zoo.generate(packed, "The harbour", max_new_tokens=6)
    assert json.loads(out)["model"] == "tiny-llama"  # the model it resolved to
    assert json.loads(out)["requested"] == str(tiny_folder)
    ran = json.loads(out)["kernel"]  # which kernel ran, per layer (zoo.model.kernels.summary)
    assert sum(ran.values()) == len(packed.packed_modes) and set(ran) <= {
        "int4pack_planes", "int8pack", "dense_bf16", "dense_bf16_t", "onednn_bf16"}
    text = tmp_path / "excerpt.txt"
    text.write_text((DATA / "harbour.txt").read_text()[:800])
    code, out, _ = run(capsys, "eval", str(tiny_folder), str(text), "--context", "64",
                       "--quantize", "int4", "--json", "--quiet")
    expected = evaluate(tiny_folder, text.read_text(), context=64, quantize="int4",
                        progress=False)
    assert code == 0 and json.loads(out)["loss"] == pytest.approx(expected.loss, rel=1e-6)
    code, _, err = run(capsys, "generate", str(tiny_folder), "--prompt", "x",
                       "--quantize", "int3")
    assert code == 2 and "invalid choice: 'int3'" in err


def test_errors_advise_flags_not_python_arguments(capsys, tiny_folder, tmp_path):
    """The command line names what a command-line user can do; the library keeps its advice."""
    import zoo

    code, _, err = run(capsys, "generate", str(tiny_folder), "--prompt", "x", "--chat")
    assert code == 2 and "no chat template; leave out --chat" in err and "chat=False" not in err
    bare = tmp_path / "bare"
    zoo.save(zoo.load(tiny_folder), bare)  # the weights without the tokenizer
    code, _, err = run(capsys, "generate", str(bare), "--prompt", "x")
    assert code == 2 and "has no tokenizer" in err and "tokenizer.json beside" in err
    assert "tokenizer=zoo.Tokenizer" not in err
    with pytest.raises(ValueError, match=r"pass tokenizer=zoo\.Tokenizer"):
        zoo.generate(zoo.load(bare), "x")


def test_eval_errors(capsys, tiny_folder, tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9".encode("latin-1"))
    code, _, err = run(capsys, "eval", str(tiny_folder), str(latin1))
    assert code == 2 and "latin1.txt: not UTF-8 text" in err
    code, _, err = run(capsys, "eval", str(tiny_folder), str(DATA / "harbour.txt"),
                       "--context", "64", "--stride", "64")
    assert code == 2 and "stride must be between 1 and context - 1 = 63" in err


def test_finetune_language_model_then_resume(capsys, tiny_folder, tmp_path):
    out_dir = tmp_path / "run"
    argv = ["finetune", str(tiny_folder), str(DATA / "harbour.txt"), "--steps", "4", "--lr",
            "3e-3", "--batch", "2", "--context", "32", "--sampling-rate", "0.5", "--out",
            str(out_dir), "--quiet"]
    code, out, _ = run(capsys, *argv, "--json")
    data = json.loads(out)
    assert code == 0 and data["task"] == "lm" and len(data["history"]) == 4
    assert [row["sampling_rate"] for row in data["history"]] == pytest.approx([0, 1 / 6, 1 / 3,
                                                                              0.5])
    assert data["plot"] == str(out_dir / "loss.png") and (out_dir / "loss.png").is_file()
    state = json.loads((out_dir / "trainer.json").read_text())
    assert state["settings"]["warmup"] == 0 and state["settings"]["batch"] == 2
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "finished run of 4 steps" in out
    code, _, err = run(capsys, *argv[:4], "5", *argv[5:])
    assert code == 2 and "steps: the checkpoint has 4, asked 5" in err


def test_finetune_classifier(capsys, tiny_folder, tmp_path):
    code, out, _ = run(capsys, "finetune", str(tiny_folder), str(DATA / "harbour-lines.txt"),
                       "--classify", str(DATA / "harbour-labels.csv"), "--pooling", "mean",
                       "--steps", "3", "--batch", "4", "--context", "64", "--out",
                       str(tmp_path / "cls"), "--quiet")
    assert code == 0 and "classification (land, sea)" in out
    assert "accuracy on the training examples" in out and "loss curve" in out
    lines = out.splitlines()
    assert lines[1].split() == ["step", "loss", "lr"] and len(lines) >= 6


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    from zoo.cli import info

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "table", interrupted)
    code, _, err = run(capsys, "list")
    assert code == 130 and err == "zoo: interrupted\n"


def test_a_bad_flag_value_is_said_in_flag_terms(capsys):
    code, _, err = run(capsys, "generate", "gpt2", "--prompt", "hi", "--max-new-tokens", "abc")
    assert code == 2 and "argument --max-new-tokens: expected an integer, got 'abc'" in err
    code, _, err = run(capsys, "generate", "gpt2", "--prompt", "hi", "--top-p", "2")
    assert code == 2 and "argument --top-p: expected in (0, 1], got '2'" in err


@pytest.mark.parametrize(("argv", "cls", "names"), [
    (["generate"], "zoo.model.generation:Options", ("max_new_tokens", "num_beams", "temperature")),
    (["finetune"], "zoo.training:Settings", ("lr", "batch", "context", "sampling_schedule")),
    (["eval"], "zoo.perplexity:Windows", ("batch", "stride")),
])
def test_flag_help_states_the_declared_default(argv, cls, names, capsys):
    """The help of a flag that a dataclass declares says that declaration's default: the two
    cannot drift (the help said --lr 5e-5 while the code's default was another)."""
    from dataclasses import fields
    from importlib import import_module

    from zoo.fields import default_text

    module, name = cls.split(":")
    declared = {f.name: f for f in fields(getattr(import_module(module), name))}
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for field_name in names:
        f = declared[field_name]
        default = f.metadata.get("default_doc") or default_text(f)
        assert f"(default: {default})" in out, field_name


def test_generate_flags_that_shape_a_draw_mean_sampling(capsys, tiny_folder):
    """--temperature, --top-k, --top-p (the options declared `sampling=True`) sample, seeded by
    --seed; temperature 0 is greedy and conflicts with them."""
    import zoo
    from zoo.text import resolve_model

    model = resolve_model(tiny_folder)
    code, out, _ = run(capsys, "generate", str(tiny_folder), "--prompt", "The harbour",
                       "--max-new-tokens", "8", "--temperature", "1.5", "--top-k", "40",
                       "--seed", "3", "--json")
    expected = zoo.generate(model, "The harbour", max_new_tokens=8, do_sample=True,
                            temperature=1.5, top_k=40, seed=3)
    assert code == 0 and json.loads(out)["text"] == expected
    code, out, _ = run(capsys, "generate", str(tiny_folder), "--prompt", "The harbour",
                       "--max-new-tokens", "8", "--temperature", "0", "--json")
    assert json.loads(out)["text"] == zoo.generate(model, "The harbour", max_new_tokens=8)
    code, _, err = run(capsys, "generate", str(tiny_folder), "--prompt", "x", "--temperature",
                       "0", "--top-k", "3")
    assert code == 2 and "top-k sample; they conflict with temperature 0" in err


def test_generate_options_are_checked_before_the_model_loads(capsys, monkeypatch, tiny_folder):
    """A bad option costs no load: the options' own rules run before the model is read."""
    import zoo.text

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(zoo.text, "resolve_model", no_load)
    code, _, err = run(capsys, "generate", str(tiny_folder), "--prompt", "x", "--stop", "")
    assert code == 2 and "a stop string must not be empty" in err


def test_show_says_a_counted_only_architecture_is_not_built(capsys, tmp_path):
    """A config.json of a class zoo counts but does not build: `show` says so in text and JSON,
    and building it is refused by name."""
    config = {"model_type": "bitnet", "hidden_size": 64, "num_attention_heads": 4,
              "num_key_value_heads": 2, "head_dim": 16, "num_hidden_layers": 2,
              "intermediate_size": 96, "vocab_size": 128}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code, out, _ = run(capsys, "show", str(path))
    assert code == 0 and "counted; building it is not supported" in out
    assert "BitNetForCausalLM" in out
    _, out, _ = run(capsys, "show", str(path), "--json")
    tier = json.loads(out)["tier"]
    assert tier["counted"] and not tier["built"]
    assert "counted; building it is not supported" in tier["message"]


# --- Ctrl-C and kills, through the real entry point in a process of its own ----------------------

# A sitecustomize module that pauses the real `python -m zoo` at the first file opened whose path
# holds ZOO_PAUSE (after ZOO_PAUSE_AFTER other such paths), or with ZOO_PAUSE=import:NAME, at the
# import of module NAME: it says "paused" on stderr and waits there for the test's signal, so
# that the signal lands while the command is at work.
PAUSING = """
import os, sys, time
pause_at, after = os.environ["ZOO_PAUSE"], int(os.environ.get("ZOO_PAUSE_AFTER", "0"))
seen = set()
def pause(event, args):
    if pause_at.startswith("import:"):
        hit = event == "import" and args[0] == pause_at.removeprefix("import:")
    else:
        hit = (event == "open" and args and isinstance(args[0], (str, bytes))
               and pause_at in os.fsdecode(args[0]))
    if hit and args[0] not in seen:
        seen.add(args[0])
        if len(seen) == after + 1:
            sys.stderr.write("paused\\n")
            sys.stderr.flush()
            time.sleep(120)
if "ZOO_PAUSE" in os.environ:
    sys.addaudithook(pause)
"""


def paused(argv: list, pause_at: str, tmp_path: Path, after: int = 0) -> subprocess.Popen:
    """`python -m zoo ARGV` in its own process, once it has paused at `pause_at` (PAUSING)."""
    import os

    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(PAUSING)
    path = os.pathsep.join([str(hooks), str(Path(__file__).parents[1]),
                            os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "ZOO_PAUSE": pause_at, "ZOO_PAUSE_AFTER": str(after),
           "PYTHONPATH": path}
    process = subprocess.Popen([sys.executable, "-m", "zoo", *map(str, argv)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stderr.readline()
    if first != "paused\n":
        out, err = process.communicate(timeout=60)
        raise AssertionError(f"zoo {argv} never paused at {pause_at}: {first}{err}{out}")
    return process


def stopped(process: subprocess.Popen, signal_number: int) -> tuple[int, str]:
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


def test_ctrl_c_is_one_line_and_exit_130_in_every_long_command(tiny_folder, tmp_path):
    """SIGINT while generate and eval import torch, convert writes its destination, verify
    imports zoo's registry (before main's handler existed, a traceback) and plot writes its
    picture: one line, exit status 130, and no partial file (convert's and plot's
    destinations hold nothing). finetune: see the next test."""
    import signal

    text = tmp_path / "text.txt"
    text.write_text((DATA / "harbour.txt").read_text()[:600])
    commands = {  # the arguments, where to pause, after how many other such paths
        "generate": (["generate", tiny_folder, "--prompt", "The", "--max-new-tokens", "4"],
                     "import:torch", 0),
        "eval": (["eval", tiny_folder, text, "--context", "32", "--quiet"], "import:torch", 0),
        # the weights' temporary file, after the journal's
        "convert": (["convert", tiny_folder, tmp_path / "hf", "--quiet"],
                    f"{tmp_path / 'hf'}/.model.safetensors.", 1),
        "verify": (["verify", "gpt2", "llama-7b"], "import:zoo.registry", 0),
        "plot": (["plot", "scale", "--out", tmp_path / "pictures" / "scale.png"], "pictures", 0),
    }
    (tmp_path / "pictures").mkdir()
    running = {name: paused(argv, at, tmp_path, after)
               for name, (argv, at, after) in commands.items()}
    for name, process in running.items():
        assert stopped(process, signal.SIGINT) == (130, "zoo: interrupted\n"), name
    assert not (tmp_path / "hf").exists() and not any((tmp_path / "pictures").iterdir())


def test_finetune_ctrl_c_while_saving_and_a_second_writer(tiny_folder, tmp_path, capsys):
    """A finetune paused while it writes its second checkpoint: another finetune into the same
    folder is refused, naming the holder's pid; Ctrl-C then stops the first with one line and
    exit status 130, removes its partial staging folder and its lock, and keeps the first
    checkpoint and the user's notes."""
    import signal

    out = tmp_path / "run"
    argv = ["finetune", tiny_folder, DATA / "harbour.txt", "--steps", "3", "--save-every", "1",
            "--batch", "2", "--context", "16", "--out", out, "--quiet"]
    # at the second checkpoint's tokenizer, written once per checkpoint, after the weights
    process = paused(argv, ".zoo-staging/.tokenizer.json.", tmp_path, after=1)
    (out / "notes.txt").write_text("lr 3e-3 was too high")
    code, _, err = run(capsys, *map(str, argv))
    assert code == 2 and f"{out} is in use by another zoo process (pid {process.pid} on" in err
    assert len(err.splitlines()) == 1
    assert stopped(process, signal.SIGINT) == (130, "zoo: interrupted\n")
    assert sorted(p.name for p in out.iterdir()) == [
        "loss.png", "model.safetensors", "notes.txt", "optimizer.safetensors", "tokenizer.json",
        "tokenizer_config.json", "trainer.json"]
    assert json.loads((out / "trainer.json").read_text())["step"] == 1
    assert (out / "notes.txt").read_text() == "lr 3e-3 was too high"


def test_finetune_killed_while_saving_resumes(tiny_folder, tmp_path, capsys):
    """SIGKILL while the second checkpoint is written leaves the staging folder and the lock
    file; the next run takes the lock over (its holder is gone), discards the uncommitted
    staging and resumes from the first checkpoint."""
    import signal

    out = tmp_path / "run"
    argv = ["finetune", tiny_folder, DATA / "harbour.txt", "--steps", "2", "--save-every", "1",
            "--batch", "2", "--context", "16", "--out", out, "--quiet"]
    # at the second checkpoint's tokenizer, written once per checkpoint, after the weights
    process = paused(argv, ".zoo-staging/.tokenizer.json.", tmp_path, after=1)
    assert stopped(process, signal.SIGKILL)[0] == -signal.SIGKILL
    assert (out / ".zoo-staging").is_dir() and (out / ".zoo-lock").is_file()
    code, out_text, _ = run(capsys, *map(str, argv), "--json")
    assert code == 0 and json.loads(out_text)["resumed_from"] == 1
    assert not (out / ".zoo-staging").exists() and not (out / ".zoo-lock").exists()
    assert json.loads((out / "trainer.json").read_text())["step"] == 2


def test_a_failed_system_call_names_the_path_in_plain_words(capsys, tmp_path):
    import errno
    import os

    from zoo.errors import cli_message

    (tmp_path / "taken").write_text("a file")
    code, _, err = run(capsys, "site", str(tmp_path / "taken" / "x" / "site"))
    assert code == 2 and "does not exist" in err  # zoo's own words where it checks first
    missing = OSError(errno.ENOENT, os.strerror(errno.ENOENT), "out/x")
    assert cli_message(missing) == "out/x: no such file or directory"
    moved = OSError(errno.EXDEV, os.strerror(errno.EXDEV), "a", None, "b")  # os.rename
    assert cli_message(moved) == "a -> b: invalid cross-device link"
    assert cli_message(OSError("no errno")) == "no errno"  # nothing to rephrase
    code, _, err = run(capsys, "eval", "gpt2", str(tmp_path / "none.txt"))
    assert code == 2 and err.strip().endswith("none.txt: no such file or directory")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_finetune_reads_its_text_as_eval_does(capsys, tiny_folder, tmp_path, monkeypatch):
    import zoo.files.text

    monkeypatch.setattr(zoo.files.text, "PIPED", 1 << 20)
    code, _, err = run(capsys, "finetune", str(tiny_folder), "/dev/zero", "--steps", "1",
                       "--out", str(tmp_path / "run"))
    assert code == 2 and "more than 1,048,576 characters from a pipe or device" in err
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9".encode("latin-1"))
    code, _, err = run(capsys, "finetune", str(tiny_folder), str(latin1), "--steps", "1",
                       "--out", str(tmp_path / "run"))
    assert code == 2 and "latin1.txt: not UTF-8 text" in err
    assert not (tmp_path / "run").exists()
