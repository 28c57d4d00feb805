"""The registry in the order people read it: by family, then by exact size."""

from __future__ import annotations

from zoo.accounting.params import count_params
from zoo.fields import suggest
from zoo.registry import REGISTRY, UnknownModelError, find


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Model names matching a glob (on names and aliases), sorted by family then size; a
    family the registry does not have is an error naming those it has."""
    if family is not None and family.lower() not in families():
        raise UnknownModelError(f"no family {family!r}{suggest(family, families())}; the "
                                f"families are {', '.join(families())}")
    specs = find(pattern, family)
    specs.sort(key=lambda s: (s.family, count_params(s).total, s.name))
    return [s.name for s in specs]


def families() -> list[str]:
    return sorted({s.family for s in REGISTRY.specs()})
