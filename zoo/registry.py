"""The registry: every spec file zoo knows, each model found by name, alias or glob.

Specs come from three places, in this order: the files packaged with zoo, the folders (or files)
in the `ZOO_SPECS` environment variable (an os.pathsep-separated list), and whatever a program
hands to `register_specs`. A user adds a model with a YAML file and no code. Names are global: a
name or alias declared twice, anywhere, is an error that names both files.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from zoo.files.errors import WeightsError, read_regular
from zoo.spec import (
    ACCUMULATING_FIELDS,
    FAMILY_FIELDS,
    ModelSpec,
    SpecError,
    architecture_key,
    spec_from_mapping,
)

ENV_VAR = "ZOO_SPECS"
FILE_KEYS = (*FAMILY_FIELDS, "defaults", "models")


def packaged_specs_dir() -> Path:
    """specs/ inside the installed package (wheel), or beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    inside = here / "specs"
    return inside if inside.is_dir() else here.parent / "specs"


class UnknownModelError(LookupError):
    """A model name the registry does not know; the message suggests the nearest ones."""

    def __str__(self) -> str:
        return str(self.args[0])


# --- YAML: safe, with duplicate keys refused and line numbers kept for messages -------------

class _LineDict(dict):
    """A mapping that knows where it starts, and where each of its values stands
    ((line, column), both from 1), for messages that point at the value."""

    line: int = 0
    positions: dict[Any, tuple[int, int]]


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    pass


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> Iterable[_LineDict]:
    loader.flatten_mapping(node)
    data = _LineDict()
    data.line = node.start_mark.line + 1
    data.positions = {}
    yield data
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in data
        except TypeError:
            raise SpecError(f"a mapping key must be a plain value, got {key!r}",
                            line=line) from None
        if duplicate:
            raise SpecError(f"duplicate key {key!r} in the mapping that starts at line "
                            f"{data.line}", line=line)
        data[key] = loader.construct_object(value_node, deep=True)
        data.positions[key] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)

MAX_YAML_BYTES = 16 * 2**20
MAX_YAML_VALUES = 100_000  # values a document may hold once its aliases are expanded
MAX_YAML_DEPTH = 100  # lists and mappings inside each other (building them recurses)


class _BoundedLoader(_Loader):
    """Refuses a document whose aliases expand beyond MAX_YAML_VALUES values before building
    it: a few hundred bytes of nested aliases (a "billion laughs") would otherwise become
    gigabytes of lists, and error messages that print them."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)


def _check_expansion(root: yaml.Node) -> None:
    """Count the values of the node graph as if every alias were copied out (each node once,
    iteratively: a deep document cannot exhaust the stack); refuse recursive aliases and
    nesting deeper than MAX_YAML_DEPTH."""
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        children = [part for pair in node.value for part in pair] if isinstance(
            node, yaml.MappingNode) else node.value if isinstance(node, yaml.SequenceNode) else []
        if finished:
            ancestors.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[id(node)] > MAX_YAML_VALUES:
                raise SpecError(f"the document expands to more than {MAX_YAML_VALUES:,} values "
                                f"(aliases nested inside aliases?); spec and claims files are "
                                f"far smaller", line=node.start_mark.line + 1)
            continue
        if id(node) in sizes:
            continue
        if id(node) in ancestors:
            raise SpecError("an alias refers to a node that contains it (a recursive alias)",
                            line=node.start_mark.line + 1)
        ancestors.add(id(node))
        if len(ancestors) > MAX_YAML_DEPTH:
            raise SpecError(f"values nest more than {MAX_YAML_DEPTH} levels deep",
                            line=node.start_mark.line + 1)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def read_yaml(path: Path, what: str = "spec file") -> Any:
    """safe_load, bounded (MAX_YAML_BYTES, MAX_YAML_VALUES), with the file and line in every
    error; `what` the file is, for the message when it cannot be read ("spec file", "claims
    file")."""
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise SpecError(f"{path.stat().st_size:,} bytes is more than a spec or claims file "
                            f"holds (at most {MAX_YAML_BYTES:,})", file=str(path))
        text = read_regular(path).decode("utf-8")  # not a pipe, which would block
    except (OSError, UnicodeDecodeError, WeightsError) as err:
        raise SpecError(f"cannot read {what}: {err}", file=str(path)) from None
    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except SpecError as err:
        raise SpecError(err.reason, file=str(path), line=err.line) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise SpecError(f"malformed YAML: {err.problem or err.context}", file=str(path),
                        line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {err}", file=str(path)) from None
    except RecursionError:  # the pure-Python parser (no libyaml) recurses while composing
        raise SpecError(f"values nest more than {MAX_YAML_DEPTH} levels deep",
                        file=str(path)) from None


def specs_from_document(doc: Any, *, file: str) -> list[ModelSpec]:
    """A family file (provenance, defaults, models: [...]) or a single model's mapping."""
    if not isinstance(doc, Mapping):
        raise SpecError("expected a mapping with 'family' and 'models' (or one model's fields)",
                        file=file)
    if "models" not in doc:
        return [_located(spec_from_mapping, doc, file)]
    for key in doc:
        if key not in FILE_KEYS:
            close = difflib.get_close_matches(str(key), FILE_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(f"unknown top-level key {key!r}{hint}; a family file has "
                            f"{', '.join(FILE_KEYS)}", file=file, line=_line(doc))
    defaults = doc.get("defaults") or {}
    models = doc["models"]
    if not isinstance(defaults, Mapping):
        raise SpecError("'defaults' must be a mapping of fields", file=file, line=_line(doc))
    if not isinstance(models, list) or not models:
        raise SpecError("'models' must be a non-empty list of model entries", file=file,
                        line=_line(doc))
    shared = {key: doc[key] for key in FAMILY_FIELDS if key in doc}
    specs = []
    for entry in models:
        if not isinstance(entry, Mapping):
            raise SpecError(f"each model entry must be a mapping, got {entry!r}", file=file,
                            line=_line(models))
        merged = {**shared, **defaults, **entry}
        for key in ACCUMULATING_FIELDS:  # notes and unpublished add up rather than override
            if isinstance(defaults.get(key), list) and isinstance(entry.get(key), list):
                merged[key] = [*defaults[key], *entry[key]]
        specs.append(_located(spec_from_mapping, merged, file, _line(entry)))
    return specs


def _line(node: Any) -> int | None:
    return getattr(node, "line", None)


def _located(build: Any, data: Mapping[str, Any], file: str, line: int | None = None) -> Any:
    try:
        return build(data, file=file)
    except SpecError as err:
        raise SpecError(err.reason, file=file, model=err.model, field=err.field,
                        line=err.line or line or _line(data)) from None


def load_spec_file(path: str | os.PathLike[str]) -> list[ModelSpec]:
    path = Path(path)
    return specs_from_document(read_yaml(path), file=str(path))


def _spec_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    if path.is_file():
        return [path]
    raise SpecError("no such spec file or folder", file=str(path))


class Registry:
    """Names and aliases -> specs, loaded on first use."""

    def __init__(self) -> None:
        self._by_name: dict[str, ModelSpec] | None = None
        self._by_key: dict[str, ModelSpec] = {}
        self._extra: list[Path] = []

    def sources(self) -> list[Path]:
        env = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
        return [packaged_specs_dir(), *env, *self._extra]

    def _load(self) -> dict[str, ModelSpec]:
        if self._by_name is None:
            by_name: dict[str, ModelSpec] = {}
            by_key: dict[str, ModelSpec] = {}
            for source in self.sources():
                for file in _spec_files(source):
                    for spec in load_spec_file(file):
                        _add(spec, by_name, by_key)
            self._by_name, self._by_key = by_name, by_key
        return self._by_name

    def register(self, path: str | os.PathLike[str]) -> list[str]:
        """Add a spec file or folder; every model in it is validated now, all or nothing."""
        path = Path(path)
        by_name = dict(self._load())
        by_key = dict(self._by_key)
        added = []
        for file in _spec_files(path):
            for spec in load_spec_file(file):
                _add(spec, by_name, by_key)
                added.append(spec.name)
        self._by_name, self._by_key = by_name, by_key
        self._extra.append(path)
        return added

    def reset(self) -> None:
        """Forget loaded specs and registered paths (e.g. after changing ZOO_SPECS)."""
        self._by_name, self._by_key, self._extra = None, {}, []

    def specs(self) -> list[ModelSpec]:
        return list(self._load().values())

    def get(self, name: str) -> ModelSpec:
        self._load()
        key = name.strip().lower() if isinstance(name, str) else name
        if key in self._by_key:
            return self._by_key[key]
        raise UnknownModelError(_unknown_message(str(name), self._by_key))


def _add(spec: ModelSpec, by_name: dict[str, ModelSpec], by_key: dict[str, ModelSpec]) -> None:
    for key in (spec.name, *spec.aliases):
        other = by_key.get(key)
        if other is not None:
            what = "name" if key == other.name else f"alias of {other.name!r}"
            raise SpecError(f"{key!r} is already declared in {other.source_file} (as the "
                            f"{what}); names and aliases must be unique",
                            file=spec.source_file, model=spec.name,
                            field="name" if key == spec.name else "aliases")
        by_key[key] = spec
    by_name[spec.name] = spec


def _unknown_message(name: str, by_key: Mapping[str, ModelSpec]) -> str:
    """The nearest models, each once by its own name (an alias close to the typo stands for
    its model)."""
    close = difflib.get_close_matches(name.lower(), list(by_key), n=10, cutoff=0.5)
    models = list(dict.fromkeys(by_key[key].name for key in close))[:3]
    hint = f"; did you mean {' or '.join(repr(m) for m in models)}?" if models else ""
    return f"unknown model {name!r}{hint} (`zoo list` shows every model)"


REGISTRY = Registry()


def get_spec(name: str | ModelSpec) -> ModelSpec:
    """A spec by name or alias (case-insensitive); a ModelSpec passes through unchanged."""
    if isinstance(name, ModelSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"expected a model name or ModelSpec, got {type(name).__name__}")
    return REGISTRY.get(name)


def find(pattern: str = "*", family: str | None = None) -> list[ModelSpec]:
    """Specs whose name or an alias matches a glob (case-insensitive), in registry order."""
    pattern = pattern.lower()
    return [s for s in REGISTRY.specs()
            if (family is None or s.family == family.lower())
            and any(fnmatch.fnmatchcase(key, pattern) for key in (s.name, *s.aliases))]


def registry_match(spec: ModelSpec) -> ModelSpec | None:
    """The registry's entry with exactly this architecture, if there is one (a gpt2-xl config
    read from a checkpoint is `gpt2-xl`)."""
    key = architecture_key(spec)
    return next((s for s in REGISTRY.specs() if architecture_key(s) == key), None)


def slug(text: str, default: str) -> str:
    """A valid model name made from free text (a folder, a GGUF's general.name)."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._") or default


def register_specs(path: str | os.PathLike[str]) -> list[str]:
    """Add a user's spec file or folder to the registry; returns the names it declared."""
    return REGISTRY.register(path)
