"""What the fields of a spec are, as tables (the architecture's, the family-level, the
accumulating ones; the README's field table), and two specs compared by what they compute:
`architecture` resolves every architecture field, so specs that build the same function agree
whatever their spelling."""

from __future__ import annotations

from typing import Any

from zoo.fields import default_text
from zoo.spec.model import SPEC_FIELDS, ModelSpec

ARCHITECTURE_FIELDS = {name: f for name, f in SPEC_FIELDS.items()
                       if f.metadata["role"] == "architecture"}
FAMILY_FIELDS = tuple(name for name, f in SPEC_FIELDS.items() if f.metadata["family_level"])
ACCUMULATING_FIELDS = tuple(name for name, f in SPEC_FIELDS.items() if f.metadata["accumulate"])


def architecture(spec: ModelSpec) -> dict[str, Any]:
    """Everything that shapes the computation, by field, resolved (defaults and derived values
    applied, fields that do not apply left out), so two specs that build the same function agree
    whatever their spelling. Floats compare at 6 significant digits: 1e-5 written as 1e-05 or
    0.00001 is one value."""
    out = {}
    for name, f in ARCHITECTURE_FIELDS.items():
        resolve = f.metadata["resolve"]
        value = resolve(spec) if resolve is not None else getattr(spec, name)
        out[name] = float(f"{value:.6g}") if isinstance(value, float) else value
    return out


def field_table() -> list[tuple[str, str, str, str]]:
    """(field, role, default, meaning) for every spec field: the README's field table."""
    return [(name, f.metadata["role"], default_text(f), f.metadata["doc"])
            for name, f in SPEC_FIELDS.items()]


def architecture_key(spec: ModelSpec) -> tuple[Any, ...]:
    """`architecture` as a hashable, comparable key."""
    return tuple(architecture(spec).values())


def architecture_difference(got: ModelSpec, want: ModelSpec) -> str | None:
    """The first architectural field where two specs differ, said plainly; None if none."""
    wanted = architecture(want)
    for name, value in architecture(got).items():
        if value != wanted[name]:
            return f"{name} would be {value!r}, not {wanted[name]!r}"
    return None
