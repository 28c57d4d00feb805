"""Every Hugging Face architecture zoo reads and writes: one entry per `model_type`.

The table below is the only place a model_type is spelled. Reading a config.json, writing one
for a spec, mapping checkpoint tensors and reading a GGUF file all start from an entry here.
The table is made of the modules of this package, found by listing it: each module with
`ENTRIES` is one family's, and its `PRIORITY` decides which architecture a spec is written as
when several express it exactly (lowest first: the most widely read). To add a family: a module
here with its `ENTRIES` and `PRIORITY`, its spec YAML and its tiny model in
`zoo.testing.FAMILIES` (see the README's "Adding a family").
"""

from __future__ import annotations

import difflib
import pkgutil
from collections.abc import Collection, Mapping
from importlib import import_module
from types import ModuleType
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    GGUFLayout,
    Source,
    UnsupportedConfigError,
    check_config_types,
)
from zoo.registry import registry_match, slug
from zoo.spec import (
    ModelSpec,
    SpecError,
    architecture_difference,
    architecture_key,
    spec_from_mapping,
)


def _family_modules() -> list[ModuleType]:
    """The modules of this package that hold entries, in write_config's order: by `PRIORITY`,
    then by name. A module with entries and no priority is an error that names it."""
    found = [import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    modules = [module for module in found if hasattr(module, "ENTRIES")]
    for module in modules:
        if not isinstance(getattr(module, "PRIORITY", None), int):
            raise TypeError(f"{module.__name__} has ENTRIES but no PRIORITY (an int: where "
                            f"write_config tries its entries, lowest first)")
    return sorted(modules, key=lambda module: (module.PRIORITY, module.__name__))


FAMILY_MODULES = _family_modules()
ARCHITECTURES: dict[str, Architecture] = {
    entry.model_type: entry for module in FAMILY_MODULES for entry in module.ENTRIES}
_BY_SPELLING = {alias: entry for entry in ARCHITECTURES.values()
                for alias in (entry.model_type, *entry.aliases)}
# the *ForCausalLM class that builds each entry: a config whose model_type zoo does not know is
# read by the entry of the class its `architectures` names (exaone and internlm3 configs name
# LlamaForCausalLM, sarvam_mla DeepseekV3ForCausalLM); the first entry of a class reads it
_BY_CLASS: dict[str, Architecture] = {}
for _entry in ARCHITECTURES.values():
    _BY_CLASS.setdefault(_entry.hf_class, _entry)


def entry_for(config: Mapping[str, Any]) -> Architecture:
    """The entry for a config.json's model_type (legacy spellings included), else for the class
    its `architectures` names."""
    raw = config.get("model_type")
    entry = _BY_SPELLING.get(raw) if isinstance(raw, str) else None
    classes = config.get("architectures")
    if entry is None and isinstance(classes, list):
        entry = next((_BY_CLASS[c] for c in classes if isinstance(c, str) and c in _BY_CLASS),
                     None)
    if entry is None:
        near = difflib.get_close_matches(str(raw), list(_BY_SPELLING), n=1, cutoff=0.5)
        nearest = f" (nearest known: {near[0]})" if near else ""
        raise UnsupportedConfigError(f"model_type {raw!r} is not supported{nearest}; zoo reads "
                                     f"{', '.join(sorted(ARCHITECTURES))}")
    return entry


def read_config(config: Mapping[str, Any]) -> Config:
    """The architecture fields (no name or provenance) that a config.json describes."""
    entry = entry_for(config)
    check_config_types(config)  # for a model_type zoo reads: its keys' JSON types
    try:
        return entry.read(config)
    except (TypeError, KeyError, ZeroDivisionError) as err:
        raise UnsupportedConfigError(f"malformed {entry.model_type} config.json: "
                                     f"{err!r}") from None


def spec_from_config(config: Mapping[str, Any], *, name: str = "hf-model",
                     family: str | None = None, **provenance: Any) -> ModelSpec:
    """A ModelSpec from a config.json mapping; fields the config omits take transformers'
    defaults for that architecture."""
    fields = read_config(config)
    entry = entry_for(config)
    family = family or entry.model_type.replace("_", "-")
    if not entry.built:
        fields["counted_only"] = (f"zoo's decoder does not compute {entry.hf_class} (nearest "
                                  f"built: {entry.nearest})")
    return spec_from_mapping({"name": name, "family": family, **fields, **provenance})


def spec_for_config(config: Mapping[str, Any], label: str) -> ModelSpec:
    """config.json -> the spec zoo wrote into it (to_hf keeps it under "zoo_spec"), else the
    registry's entry when one matches exactly, else a new spec named after `label` that
    remembers the architecture it was published as."""
    spec = spec_from_config(config, name=slug(label, "hf-model"),
                            weights={"model_type": entry_for(config).model_type})
    written = config.get("zoo_spec")
    if isinstance(written, dict):
        try:
            spec_written = spec_from_mapping(written)
        except SpecError:
            spec_written = None
        if spec_written is not None and architecture_key(spec_written) == architecture_key(spec):
            return spec_written
    # a counted-only spec stays so, even where a registry model has the same shapes
    return spec if spec.counted_only else (registry_match(spec) or spec)


def write_config(spec: ModelSpec) -> Config:
    """The config.json of the transformers architecture that computes exactly this spec.

    Each entry's writer is checked by reading its output back; the architecture the spec's
    weights are published as (`weights.model_type`) is tried first, then every entry in
    `ARCHITECTURES` order (its modules' `PRIORITY`). UnsupportedConfigError names the nearest
    misses when none computes the spec (GPT-3's banded layers; a d_head no class can state).
    """
    target = architecture_key(spec)
    misses = []
    preferred = [spec.weights.model_type] if spec.weights.model_type in ARCHITECTURES else []
    for model_type in dict.fromkeys([*preferred, *ARCHITECTURES]):
        entry = ARCHITECTURES[model_type]
        try:
            # token ids belong to the tokenizer; a class default outside the vocabulary (a
            # padding index) would break the embedding
            config = {"model_type": entry.model_type, "architectures": [entry.hf_class],
                      "vocab_size": spec.vocab_size, "tie_word_embeddings": spec.tie_embeddings,
                      "pad_token_id": None, **entry.write(spec)}
            back = spec_from_mapping({"name": spec.name, "family": spec.family,
                                      **read_config(config)})
        except (UnsupportedConfigError, SpecError) as err:
            misses.append((entry.model_type, str(err)))
            continue
        if architecture_key(back) == target:
            return config
        misses.append((entry.model_type, architecture_difference(back, spec) or "differs"))
    detail = "; ".join(f"{m}: {why}" for m, why in misses[:3])
    raise UnsupportedConfigError(f"no transformers architecture computes {spec.name} exactly "
                                 f"({detail}, ...)")


def gguf_layout(fields: Mapping[str, Any]) -> GGUFLayout:
    arch = fields.get("general.architecture")
    for entry in ARCHITECTURES.values():
        if entry.gguf is not None and entry.gguf.arch == arch:
            return entry.gguf
    known = sorted(e.gguf.arch for e in ARCHITECTURES.values() if e.gguf is not None)
    raise UnsupportedConfigError(f"GGUF architecture {arch!r} is not supported; zoo reads "
                                 f"{', '.join(known)}")


def config_from_gguf(fields: Mapping[str, Any], tensor_names: Collection[str]) -> Config:
    """A GGUF file's metadata as the config.json of the checkpoint it was converted from."""
    layout = gguf_layout(fields)
    try:
        return layout.config(fields, tensor_names)
    except (TypeError, KeyError, ValueError, ZeroDivisionError) as err:
        if isinstance(err, UnsupportedConfigError):
            raise
        raise UnsupportedConfigError(f"malformed {layout.arch} GGUF metadata: {err!r}") from None


def spec_from_gguf(fields: Mapping[str, Any], tensor_names: Collection[str],
                   label: str) -> ModelSpec:
    """The spec of a GGUF file: the registry's when the architecture matches one exactly."""
    base = fields.get("general.basename") or fields.get("general.name") or label
    size = fields.get("general.size_label")
    name = f"{base}-{size}" if size and str(size).lower() not in str(base).lower() else str(base)
    spec = spec_from_config(config_from_gguf(fields, tensor_names), name=slug(name, "gguf-model"))
    return registry_match(spec) or spec


__all__ = ["ARCHITECTURES", "Architecture", "Config", "GGUFLayout", "Source",
           "UnsupportedConfigError", "config_from_gguf", "entry_for", "gguf_layout",
           "read_config", "spec_for_config", "spec_from_config", "spec_from_gguf",
           "write_config"]
