"""ModelSpec: one model's architecture and provenance, exactly as a spec file declares it.

A spec is data, not code: every switch the decoder and the accounting read is a field here, so a
new model is a YAML entry, never a subclass. Validation happens once, at load time, and every
failure is a `SpecError` that names the file, the model and the field.

- `vocabulary`: the error, the closed sets of values and the nested records;
- `model`: `ModelSpec`, its fields (one declaration each), and the spec as data and back;
- `fields`: the fields as tables, and specs compared by what they compute;
- `rules`: the cross-field rules no real architecture breaks.
"""

from zoo.spec.fields import (
    ACCUMULATING_FIELDS,
    ARCHITECTURE_FIELDS,
    FAMILY_FIELDS,
    architecture,
    architecture_difference,
    architecture_key,
    field_table,
)
from zoo.spec.model import SPEC_FIELDS, ModelSpec, spec_from_mapping, to_mapping
from zoo.spec.vocabulary import Reported, RopeScaling, SpecError, Weights

__all__ = [
    "ACCUMULATING_FIELDS",
    "ARCHITECTURE_FIELDS",
    "FAMILY_FIELDS",
    "SPEC_FIELDS",
    "ModelSpec",
    "Reported",
    "RopeScaling",
    "SpecError",
    "Weights",
    "architecture",
    "architecture_difference",
    "architecture_key",
    "field_table",
    "spec_from_mapping",
    "to_mapping",
]
