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
