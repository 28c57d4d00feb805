"""The registry: names, aliases, globs, user spec folders, and file-level errors."""

from __future__ import annotations

import pytest

import zoo
from zoo.registry import REGISTRY, UnknownModelError, load_spec_file, packaged_specs_dir
from zoo.spec import SpecError

# the families the packaged spec files declare, read file by file rather than through the
# registry (a new family is its YAML file: no list here to extend)
FAMILIES = {spec.family for path in sorted(packaged_specs_dir().glob("*.yaml"))
            for spec in load_spec_file(path)}
EXPECTED = {
    "gpt": ["openai-gpt"],
    "gpt2": ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"],
    "gpt3": ["gpt3-125m", "gpt3-350m", "gpt3-760m", "gpt3-1.3b", "gpt3-2.7b", "gpt3-6.7b",
             "gpt3-13b", "gpt3-175b"],
    "gpt-bigcode": ["santacoder", "starcoder"],
    "bloom": ["bloom-560m", "bloom-1b1", "bloom-1b7", "bloom-3b", "bloom-7b1", "bloom-176b"],
    "opt": ["opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b", "opt-13b", "opt-30b",
            "opt-66b", "opt-175b"],
    "pythia": ["pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b", "pythia-1.4b",
               "pythia-2.8b", "pythia-6.9b", "pythia-12b"],
    "llama3": ["llama-3.2-1b", "llama-3.2-3b", "llama-3-8b", "llama-3.1-8b", "llama-3-70b",
               "llama-3.1-70b", "llama-3.1-405b"],
    "qwen2.5": ["qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b",
                "qwen2.5-32b", "qwen2.5-72b"],
    "qwen3": ["qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b"],
    "gemma": ["gemma-2b", "gemma-7b"],
    "gemma2": ["gemma-2-2b", "gemma-2-9b", "gemma-2-27b"],
    "gemma3": ["gemma-3-270m", "gemma-3-1b", "gemma-3-4b", "gemma-3-12b", "gemma-3-27b"],
    "phi": ["phi-1.5", "phi-2"],
    "stablelm": ["stablelm-2-1.6b"],
    "starcoder2": ["starcoder2-3b", "starcoder2-7b", "starcoder2-15b"],
    "phi3": ["phi-3-mini-4k", "phi-4-mini", "phi-3-medium-4k", "phi-4"],
    "olmo": ["olmo-1b", "olmo-7b"],
    "gemma4": ["gemma-4-e2b", "gemma-4-e4b", "gemma-4-26b-a4b", "gemma-4-31b"],
    "olmo2": ["olmo-2-7b", "olmo-2-13b"],
    "smollm2": ["smollm2-135m", "smollm2-360m", "smollm2-1.7b"],
    "smollm3": ["smollm3-3b"],
    "mixtral": ["mixtral-8x7b", "mixtral-8x22b"],
    "qwen3-moe": ["qwen3-30b-a3b", "qwen3-235b-a22b"],
    "deepseek-v3": ["deepseek-v3"],
    "kimi-k2": ["kimi-k2"],
    "deepseek-v3.2": ["deepseek-v3.2"],
    "glm-4.5": ["glm-4.5-air", "glm-4.5"],
    "deepseek-v2": ["deepseek-v2-lite", "deepseek-v2"],
    "gpt-oss": ["gpt-oss-20b", "gpt-oss-120b"],
    "llama4": ["llama-4-scout-17b-16e", "llama-4-maverick-17b-128e"],
    "qwen3-next": ["qwen3-next-80b-a3b"],
    "qwen3.5": ["qwen3.5-27b"],
    "qwen3.5-moe": ["qwen3.5-35b-a3b", "qwen3.5-122b-a10b", "qwen3.5-397b-a17b"],
}


def test_every_family_and_size_is_registered():
    assert set(zoo.families()) == FAMILIES
    for family, names in EXPECTED.items():
        assert zoo.list_models(family=family) == names
    for name in ["gpt-neo-125m", "gpt-neo-1.3b", "gpt-neo-2.7b", "gpt-j-6b", "gpt-neox-20b",
                 "llama-7b", "llama-13b", "llama-33b", "llama-65b", "llama-2-7b", "llama-2-13b",
                 "llama-2-70b", "mistral-7b-v0.1", "falcon-7b", "falcon-40b", "smollm2-135m"]:
        assert zoo.get_spec(name).name == name


def test_every_packaged_spec_names_its_sources():
    for spec in REGISTRY.specs():
        assert spec.hparams_source, spec.name
        assert spec.reported is not None and spec.reported.source, spec.name
        assert spec.year and spec.org and spec.paper and spec.license, spec.name


def test_aliases_and_case():
    assert zoo.get_spec("GPT2-Small").name == "gpt2"
    assert zoo.get_spec("gpt").name == "openai-gpt"
    assert zoo.get_spec("openai-gpt").name == "openai-gpt"
    assert zoo.get_spec("gpt3-small").name == "gpt3-125m"
    assert zoo.get_spec("bloom").name == "bloom-176b"


def test_unknown_name_suggests():
    with pytest.raises(UnknownModelError, match="did you mean 'gpt2-xl'"):
        zoo.get_spec("gpt2-xxl")


def test_glob_and_sort_by_family_then_size():
    assert zoo.list_models("gpt2*") == ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"]
    # globs match aliases too: mistral-7b is mistral-7b-v0.1
    assert zoo.list_models("*-7b") == ["falcon-7b", "gemma-7b", "llama-2-7b", "llama-7b",
                                       "mistral-7b-v0.1", "olmo-7b", "olmo-2-7b", "olmoe-1b-7b",
                                       "qwen2.5-7b", "starcoder2-7b"]
    assert zoo.list_models("meta-llama-3*-8b") == ["llama-3-8b", "llama-3.1-8b"]
    names = zoo.list_models()
    keys = [(zoo.get_spec(n).family, zoo.count_params(n).total) for n in names]
    assert keys == sorted(keys)
    assert zoo.list_models("nothing*") == []


USER_SPEC = """\
family: mine
title: Mine
org: Me
year: 2026
paper: none
license: MIT
defaults:
  vocab_size: 1000
  context_length: 128
models:
  - name: mine-tiny
    aliases: [tiny-mine]
    n_layer: 2
    d_model: 64
    n_head: 4
    d_ff: 256
"""


def test_user_specs_from_environment(write_yaml, monkeypatch):
    path = write_yaml("user/mine.yaml", USER_SPEC)
    monkeypatch.setenv("ZOO_SPECS", str(path.parent))
    REGISTRY.reset()
    assert zoo.get_spec("tiny-mine").name == "mine-tiny"
    assert zoo.list_models(family="mine") == ["mine-tiny"]
    assert zoo.count_params("mine-tiny").total > 0


def test_register_specs_file(write_yaml):
    path = write_yaml("mine.yaml", USER_SPEC)
    assert zoo.register_specs(path) == ["mine-tiny"]
    assert zoo.get_spec("mine-tiny").source_file == str(path)


def test_single_model_file(write_yaml):
    path = write_yaml("one.yaml", "name: solo\nfamily: x\nn_layer: 1\nd_model: 8\nn_head: 2\n"
                                  "d_ff: 16\nvocab_size: 10\ncontext_length: 4\n")
    assert zoo.register_specs(path) == ["solo"]


def test_duplicate_name_across_files_names_both(write_yaml):
    path = write_yaml("dup.yaml", USER_SPEC.replace("mine-tiny", "gpt2"))
    with pytest.raises(SpecError) as info:
        zoo.register_specs(path)
    message = str(info.value)
    assert "dup.yaml" in message and "gpt2.yaml" in message and "'gpt2'" in message
    with pytest.raises(SpecError, match="alias of 'gpt2'"):
        zoo.register_specs(write_yaml("dup2.yaml", USER_SPEC.replace("tiny-mine", "gpt2-small")))
    assert "mine-tiny" not in zoo.list_models(), "a failed registration must add nothing"


def test_malformed_yaml_gives_line(write_yaml):
    path = write_yaml("bad.yaml", USER_SPEC.replace("    n_head: 4", "    n_head: [4"))
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    assert "bad.yaml:" in str(info.value) and "malformed YAML" in str(info.value)
    assert info.value.line is not None and info.value.line >= 15


def test_duplicate_yaml_key_is_refused(write_yaml):
    text = USER_SPEC.replace("    d_ff: 256", "    d_ff: 256\n    d_ff: 512")
    path = write_yaml("dupkey.yaml", text)
    with pytest.raises(SpecError, match="duplicate key 'd_ff'") as info:
        load_spec_file(path)
    assert info.value.line == 17


def test_errors_in_entries_name_file_model_and_field(write_yaml):
    path = write_yaml("typo.yaml", USER_SPEC.replace("d_ff: 256", "dff: 256"))
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    err = info.value
    assert err.file == str(path) and err.model == "mine-tiny" and err.field == "dff"
    assert "did you mean 'd_ff'" in str(err)


def test_unknown_top_level_key(write_yaml):
    path = write_yaml("top.yaml", "famly: x\n" + USER_SPEC)
    with pytest.raises(SpecError, match="did you mean 'family'"):
        load_spec_file(path)


def test_yaml_is_safe_loaded(write_yaml):
    path = write_yaml("evil.yaml", "!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        load_spec_file(path)


def test_missing_spec_folder(monkeypatch):
    monkeypatch.setenv("ZOO_SPECS", "/nonexistent/zoo-specs")
    REGISTRY.reset()
    with pytest.raises(SpecError, match="/nonexistent/zoo-specs"):
        zoo.list_models()


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A few hundred bytes of YAML, each level an anchor holding `width` aliases of the level
    below: width ** levels values once expanded (387 million strings here)."""
    text = "&a0 [" + ", ".join(["lol"] * width) + "]"
    for i in range(1, levels):
        text = f"&a{i} [{text}" + f", *a{i - 1}" * (width - 1) + "]"
    return text


BOUNDED = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))  # a regression fails, not the machine
from zoo.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(code, time.perf_counter() - start, int(status["VmHWM"].split()[0]) * 1024)  # peak RSS
"""


@pytest.mark.parametrize("where", ["spec", "claims"])
def test_yaml_alias_bomb_is_refused_in_bounded_time_and_memory(tmp_path, where):
    """A few hundred bytes that expand to 387 million strings, as a spec's notes or as a claims
    file: refused at once, in a few megabytes, with a short message naming the file."""
    import subprocess
    import sys
    from pathlib import Path

    if not Path("/proc/self/status").is_file():
        pytest.skip("peak memory is read from /proc (Linux)")
    if where == "spec":
        path = tmp_path / "bomb.yaml"
        path.write_text("name: bomb\nfamily: x\nn_layer: 1\nd_model: 8\nn_head: 1\nd_ff: 8\n"
                        f"vocab_size: 8\ncontext_length: 8\nnotes: [{alias_bomb()}]\n")
        argv, env = ["list"], {"ZOO_SPECS": str(path)}
    else:
        path = tmp_path / "claims.yaml"
        path.write_text(f"- {{name: gpt2, params: {alias_bomb()}}}\n")
        argv, env = ["verify", "--claims", str(path)], {}
    done = subprocess.run([sys.executable, "-c", BOUNDED, *argv], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    code, seconds, peak = done.stdout.split()
    assert code == "2" and float(seconds) < 5 and int(peak) < 200 * 2**20, done.stdout
    assert str(path) in done.stderr and "more than 100,000 values" in done.stderr
    assert len(done.stderr) < 1000


def test_recursive_alias_is_refused(write_yaml):
    path = write_yaml("loop.yaml", "a: &a [1, *a]\n")
    with pytest.raises(SpecError, match="recursive alias"):
        load_spec_file(path)


@pytest.mark.parametrize("depth", [500, 5000])
def test_deeply_nested_yaml_is_refused(write_yaml, depth):
    path = write_yaml("deep.yaml", "a: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(SpecError, match=r"deep\.yaml:1: .*nest"):
        load_spec_file(path)
