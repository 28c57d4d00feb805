"""Rules between a zoo model's tensors and a checkpoint's, made from an architecture's templates.

`rules` expands an entry's templates for one spec: exactly the tensors the zoo model has (a
bias only where the spec has one, a tied head not at all), each with the checkpoint names it
is made of (`{i}` a layer, `{e}` each expert in turn) and the named transform. `plan` matches
the rules against a checkpoint's tensors (a safetensors folder, a pickle-free .bin, a GGUF file
seen under Hugging Face names) and gives a producer per zoo tensor plus every missing,
unexpected or mis-shaped one. The same rules
serve import, export and the in-memory conversions the tests use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import torch
from torch import Tensor

from zoo.architectures import Architecture, entry_for, write_config
from zoo.checkpoints.transforms import TRANSFORMS, Transform
from zoo.model import Model
from zoo.spec import ModelSpec

# non-parameter buffers that older checkpoints carry
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", ".attention.bias",
                    ".attention.masked_bias", ".rotary_emb.inv_freq", ".attn.attention.bias",
                    ".attn.attention.masked_bias")


class TensorSource(Protocol):
    """What `plan` reads: tensors by name, their shapes, a read (a memory-map view when
    `mmap`, else a copy, into `out` when it fits)."""

    def names(self) -> list[str]: ...
    def __contains__(self, name: object) -> bool: ...
    def shape(self, name: str) -> tuple[int, ...]: ...
    def read(self, name: str, *, mmap: bool = True, out: Tensor | None = None) -> Tensor: ...


@dataclass(frozen=True)
class Rule:
    zoo: str
    hf: tuple[str, ...]
    transform: Transform
    spec: ModelSpec

    def to_zoo(self, parts: list[Tensor]) -> Tensor:
        return self.transform.to_zoo(parts, self.spec)

    def to_hf(self, tensor: Tensor) -> list[Tensor]:
        return self.transform.to_hf(tensor, self.spec)


@dataclass(frozen=True)
class Rules:
    """An entry's rules for one spec, and how to find their names in a checkpoint."""

    entry: Architecture
    rules: list[Rule]
    tied: tuple[str, ...]  # checkpoint copies of a tied head, ignored on import

    def resolve(self, name: str, available: Any) -> str | None:
        """The name under which `available` holds the tensor written `name` here, if any:
        checkpoints of the bare base model (as many on the hub) lack the prefix, and some
        tensors were renamed between transformers versions."""
        bare = name.removeprefix(self.entry.prefix)
        for candidate in (name, bare, *self.entry.renamed.get(name, ())):
            if candidate in available:
                return candidate
        return None


def _expand(template: str, spec: ModelSpec) -> list[tuple[int, str]]:
    if "{i}" not in template:
        return [(-1, template)]
    return [(i, template.replace("{i}", str(i))) for i in range(spec.n_layer)]


def rules(spec: ModelSpec, entry: Architecture | None = None,
          names: Iterable[str] | None = None) -> Rules:
    """The rules for the tensors of `spec`'s language model (`names`, default: those of a model
    built on meta), as `entry` (default: the architecture `write_config` picks) stores them."""
    entry = entry or entry_for(write_config(spec))
    if names is None:
        with torch.device("meta"):
            names = Model(spec).state_dict().keys()
    concrete: dict[str, tuple[tuple[str, ...], str]] = {}
    for zoo_template, source in entry.templates(spec).items():
        for i, zoo_name in _expand(zoo_template, spec):
            hf = tuple(h.replace("{i}", str(i)) for h in source.hf)
            if any("{e}" in h for h in hf):  # one checkpoint tensor per expert, expert-major
                hf = tuple(h.replace("{e}", str(e)) for e in range(spec.n_experts or 0)
                           for h in hf)
            concrete[zoo_name] = (hf, source.transform)
    out, tied = [], ()
    for name in names:
        if name not in concrete:
            raise KeyError(f"the {entry.model_type} architecture has no checkpoint name for "
                           f"zoo tensor {name!r}")
        hf, transform = concrete[name]
        if name == "head.weight" and spec.tie_embeddings:
            tied = (*hf, *(alt for h in hf for alt in entry.renamed.get(h, ())))
            continue
        out.append(Rule(name, hf, TRANSFORMS[transform], spec))
    return Rules(entry, out, tied)


def plan(mapping: Rules, source: TensorSource, expected: Mapping[str, tuple[int, ...]]
         ) -> tuple[dict[str, Callable[[], Tensor]], list[str]]:
    """A producer per zoo tensor, and every missing, unexpected or mis-shaped checkpoint
    tensor, said in the checkpoint's own names. `expected` gives the zoo shapes."""
    scratch: dict[tuple[Any, ...], Tensor] = {}
    producers: dict[str, Callable[[], Tensor]] = {}
    problems: list[str] = []
    used: set[str] = set()
    for rule in mapping.rules:
        wanted = rule.to_hf(torch.empty(expected[rule.zoo], device="meta"))
        found = []
        for hf_name, want in zip(rule.hf, wanted, strict=True):
            where = mapping.resolve(hf_name, source)
            if where is None:
                problems.append(f"missing: {hf_name} (for {rule.zoo}, shape {list(want.shape)})")
                continue
            used.add(where)
            if tuple(source.shape(where)) != tuple(want.shape):
                problems.append(f"mis-shaped: {where}: expected {list(want.shape)}, found "
                                f"{list(source.shape(where))}")
                continue
            found.append(where)
        if len(found) == len(rule.hf):
            producers[rule.zoo] = partial(_produce, rule, found, source, scratch)
    for tied in mapping.tied:
        where = mapping.resolve(tied, source)
        if where is not None:
            used.add(where)
    skip = mapping.entry.ignored(mapping.rules[0].spec) if mapping.rules else ()
    extra = [k for k in source.names() if k not in used and not k.endswith(IGNORED_SUFFIXES)
             and not k.removeprefix(mapping.entry.prefix).startswith(
                 tuple(p.removeprefix(mapping.entry.prefix) for p in skip))]
    problems += [f"unexpected: {k}" for k in extra]
    return producers, problems


def _produce(rule: Rule, names: list[str], source: TensorSource,
             scratch: dict[tuple[Any, ...], Tensor]) -> Tensor:
    """One zoo tensor. A tensor used as stored is a memory-map view; one that is transformed is
    read into a scratch buffer reused across layers (per position and shape), so the only new
    memory is the result: no freed temporaries fragment the heap."""
    if rule.transform.direct:
        return rule.to_zoo([source.read(n) for n in names])
    parts = []
    for i, name in enumerate(names):
        key = (i, tuple(source.shape(name)))
        parts.append(source.read(name, mmap=False, out=scratch.get(key)))
        scratch[key] = parts[-1]
    result = rule.to_zoo(parts)
    if any(result.untyped_storage().data_ptr() == p.untyped_storage().data_ptr() for p in parts):
        result = result.clone()  # a reshape that came back as a view of the buffer
    return result


def hf_to_zoo(spec: ModelSpec, tensors: Mapping[str, Tensor],
              entry: Architecture | None = None) -> dict[str, Tensor]:
    """A full HF state dict (names as in *ForCausalLM) -> zoo's names. Strict: every rule's
    tensors must be there, and every tensor must be used (or be a known buffer or tied copy)."""
    mapping = rules(spec, entry)
    found = {h: mapping.resolve(h, tensors) for rule in mapping.rules for h in rule.hf}
    missing = [h for h, where in found.items() if where is None]
    if missing:
        raise KeyError(f"checkpoint lacks {len(missing)} tensors, e.g. {missing[:3]}")
    used = set(found.values()) | {mapping.resolve(t, tensors) for t in mapping.tied}
    extra = [k for k in tensors if k not in used and not k.endswith(IGNORED_SUFFIXES)]
    if extra:
        raise KeyError(f"checkpoint has {len(extra)} unexpected tensors, e.g. {extra[:3]}")
    out = {rule.zoo: rule.to_zoo([tensors[found[h]] for h in rule.hf])  # type: ignore[index]
           for rule in mapping.rules}
    if spec.tie_embeddings:
        out["head.weight"] = out["embed.weight"]
    return out


def zoo_to_hf(spec: ModelSpec, tensors: Mapping[str, Tensor],
              entry: Architecture | None = None) -> dict[str, Tensor]:
    """zoo's tensors -> the checkpoint names and layout of `entry` (default: write_config's)."""
    out: dict[str, Tensor] = {}
    for rule in rules(spec, entry).rules:
        out.update(zip(rule.hf, rule.to_hf(tensors[rule.zoo]), strict=True))
    return out
