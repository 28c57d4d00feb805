"""The registry in the order people read it: by family, then by exact size."""

from __future__ import annotations

from zoo.accounting.params import count_params
from zoo.registry import REGISTRY, find


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Model names matching a glob (on names and aliases), sorted by family then size."""
    specs = find(pattern, family)
    specs.sort(key=lambda s: (s.family, count_params(s).total, s.name))
    return [s.name for s in specs]


def families() -> list[str]:
    return sorted({s.family for s in REGISTRY.specs()})
