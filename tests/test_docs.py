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
