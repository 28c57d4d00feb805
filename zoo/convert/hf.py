"""Hugging Face checkpoints in and out: `from_hf` and `to_hf`.

`from_hf` reads a folder (or a repo id from the local Hugging Face cache, offline first):
config.json becomes a spec (the registry's entry when the architecture matches one), and the
tensors are mapped by `hf_names` onto a model built on the meta device. Tensors used as stored
stay views of memory maps; tensors that must be transposed or regrouped are read into fresh
memory one rule at a time, so peak memory stays near the size of the weights. transformers is
never imported.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.convert.hf_config import (
    WRITERS,
    UnsupportedConfigError,
    from_hf_config,
    model_type_of,
    to_hf_config,
)
from zoo.convert.hf_names import NameMap, Rule, name_map, zoo_to_hf
from zoo.local import REPO_ID
from zoo.model import Model
from zoo.registry import REGISTRY
from zoo.safetensors_io import TensorSource, WeightsError, open_safetensors
from zoo.spec import ModelSpec, SpecError, architecture_key, spec_from_mapping, to_mapping
from zoo.units import parse_bytes
from zoo.weights import fill, stored_tensors, weights_file, write_safetensors

HUB_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]


# --- finding the files ------------------------------------------------------------------------

def resolve_folder(path_or_repo_id: str | os.PathLike[str], revision: str | None = None) -> Path:
    """A local folder as is; a repo id from the Hugging Face cache (downloading only when the
    hub is allowed and the files are not cached)."""
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    if path.exists():
        raise WeightsError(f"{path}: expected a Hugging Face checkpoint folder (config.json and "
                           f"weights), got a file")
    text = str(path_or_repo_id)
    if not REPO_ID.match(text):
        raise FileNotFoundError(f"{text}: no such folder, and not a Hugging Face repo id")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.constants import HF_HUB_CACHE, HF_HUB_OFFLINE
    except ImportError:
        raise FileNotFoundError(f"{text}: no such folder (huggingface_hub, needed to look in "
                                f"the Hugging Face cache, is not installed)") from None
    try:
        return Path(snapshot_download(text, revision=revision, local_files_only=True,
                                      allow_patterns=HUB_PATTERNS))
    except Exception as cached_error:  # hub errors vary by version
        where = f"the local Hugging Face cache ({HF_HUB_CACHE})"
        if HF_HUB_OFFLINE:
            raise FileNotFoundError(
                f"{text} is not in {where} and HF_HUB_OFFLINE is set: download it where the hub "
                f"is reachable (`huggingface-cli download {text}`) or pass a local folder "
                f"({type(cached_error).__name__})") from None
        try:
            return Path(snapshot_download(text, revision=revision, allow_patterns=HUB_PATTERNS))
        except Exception as err:
            raise FileNotFoundError(f"{text} is not in {where}, and downloading it failed: "
                                    f"{type(err).__name__}: {err}") from None


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise WeightsError(f"{folder}: no config.json (not a Hugging Face checkpoint folder)")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: expected a JSON object")
    return config


class PickleFreeSource:
    """A pytorch_model.bin read with torch.load(weights_only=True): tensors only, no code."""

    def __init__(self, files: list[Path]) -> None:
        self.tensors: dict[str, Tensor] = {}
        for file in files:
            try:
                data = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
            except Exception as err:  # pickle errors vary
                raise WeightsError(
                    f"{file}: refused: it holds more than tensors ({type(err).__name__}: "
                    f"{str(err).splitlines()[0][:200]}). zoo never unpickles arbitrary objects; "
                    f"convert it to safetensors where you trust it (transformers' "
                    f"save_pretrained(..., safe_serialization=True)).") from None
            if not isinstance(data, dict) or not all(isinstance(v, Tensor) for v in
                                                     data.values()):
                raise WeightsError(f"{file}: expected a state dict of tensors")
            self.tensors.update(data)
        self.files = files

    def names(self) -> list[str]:
        return list(self.tensors)

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.tensors[name].shape)

    def read(self, name: str, *, mmap: bool = True, out: Tensor | None = None) -> Tensor:
        tensor = self.tensors[name]
        if mmap:
            return tensor
        if out is not None and out.shape == tensor.shape and out.dtype == tensor.dtype:
            return out.copy_(tensor)
        return tensor.clone()


def open_weights(folder: Path) -> TensorSource | PickleFreeSource:
    try:
        found: Path | None = weights_file(folder)  # model.safetensors or its index
    except WeightsError:
        found = None
    if found is not None:
        return open_safetensors(found)
    singles = sorted(folder.glob("*.safetensors"))
    if len(singles) == 1:
        return open_safetensors(singles[0])
    bin_index = folder / "pytorch_model.bin.index.json"
    if bin_index.is_file():
        shards = sorted(set(json.loads(bin_index.read_text())["weight_map"].values()))
        return PickleFreeSource([folder / s for s in shards])
    if (folder / "pytorch_model.bin").is_file():
        return PickleFreeSource([folder / "pytorch_model.bin"])
    raise WeightsError(f"{folder}: no weights (expected model.safetensors, a safetensors index, "
                       f"or pytorch_model.bin)")


# --- specs ------------------------------------------------------------------------------------

def registry_match(spec: ModelSpec) -> ModelSpec | None:
    """The registry entry with exactly this architecture, if there is one."""
    key = architecture_key(spec)
    return next((s for s in REGISTRY.specs() if architecture_key(s) == key), None)


def spec_for(config: dict[str, Any], label: str) -> ModelSpec:
    """config.json -> the spec zoo wrote into it (to_hf keeps it under "zoo_spec"), else the
    registry's entry when one matches exactly, else a new spec named after the folder."""
    name = re.sub(r"[^a-z0-9._-]+", "-", label.lower()).strip("-._") or "hf-model"
    spec = from_hf_config(config, name=name)
    if isinstance(config.get("zoo_spec"), dict):
        try:
            written = spec_from_mapping(config["zoo_spec"])
        except SpecError:
            written = None
        if written is not None and architecture_key(written) == architecture_key(spec):
            return written
    return registry_match(spec) or spec


def canonical_config(spec: ModelSpec, model_type: str) -> dict[str, Any]:
    """The config zoo itself would write for `spec` as `model_type` (its layout flags decide the
    name map); the spec's own choice when that type cannot express it."""
    writer = WRITERS.get("llama" if model_type == "mistral" else model_type)
    if writer is not None:
        config = writer(spec)
        if config["model_type"] == model_type:
            return config
    return to_hf_config(spec)


# --- import -----------------------------------------------------------------------------------

def from_hf(path_or_repo_id: str | os.PathLike[str], *, device: str | torch.device | None = None,
            dtype: str | torch.dtype | None = None, strict: bool = True,
            revision: str | None = None, progress: bool | None = None) -> Model:
    """A zoo model from a Hugging Face checkpoint (folder or cached repo id)."""
    folder = resolve_folder(path_or_repo_id, revision)
    config = read_config(folder)
    label = str(path_or_repo_id).rstrip("/").split("/")[-1]
    try:
        spec = spec_for(config, label)
        names = name_map(spec, canonical_config(spec, model_type_of(config)))
    except UnsupportedConfigError as err:
        raise WeightsError(f"{folder / 'config.json'}: {err}") from None
    source = open_weights(folder)
    with torch.device("meta"):
        model = Model(spec)
    producers, problems = _plan(model, names, source)
    if problems and strict:
        raise WeightsError(f"{folder} does not match {spec.name}:\n  " + "\n  ".join(problems)
                           + "\n(pass strict=False to load what matches)")
    if problems:
        warnings.warn(f"{folder}: " + "; ".join(problems), stacklevel=2)
    shapes = {zoo_name: tuple(p.shape) for zoo_name, p in model.state_dict().items()}
    model = fill(model, producers, shapes={n: shapes[n] for n in producers}, device=device,
                 dtype=dtype, strict=strict, origin=str(folder), progress=progress)
    model.source = str(folder)
    _attach_tokenizer(model, folder)
    return model


def _plan(model: Model, names: NameMap,
          source: TensorSource | PickleFreeSource) -> tuple[dict[str, Callable[[], Tensor]],
                                                             list[str]]:
    """A producer per zoo tensor, and every missing, unexpected or mis-shaped HF tensor."""
    expected = model.state_dict()
    scratch: dict[tuple[Any, ...], Tensor] = {}
    producers: dict[str, Callable[[], Tensor]] = {}
    problems: list[str] = []
    used: set[str] = set()
    for rule in names.rules:
        wanted = rule.to_hf(torch.empty(expected[rule.zoo].shape, device="meta"))
        found = []
        for hf_name, want in zip(rule.hf, wanted, strict=True):
            where = names.resolve(hf_name, source)
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
    for tied in names.tied_hf_names:
        where = names.resolve(tied, source)
        if where is not None:
            used.add(where)
    extra = [k for k in source.names() if k not in used and not k.endswith(names.ignored)]
    problems += [f"unexpected: {k}" for k in extra]
    return producers, problems


def _produce(rule: Rule, hf_names: list[str], source: TensorSource | PickleFreeSource,
             scratch: dict[tuple[Any, ...], Tensor]) -> Tensor:
    """One zoo tensor. A tensor used as stored is a memory-map view; one that is transformed is
    read into a scratch buffer reused across layers (per position and shape), so the only new
    memory is the result: no freed temporaries fragment the heap."""
    if rule.direct:
        return rule.to_zoo([source.read(n) for n in hf_names])
    parts = []
    for i, name in enumerate(hf_names):
        key = (i, tuple(source.shape(name)))
        parts.append(source.read(name, mmap=False, out=scratch.get(key)))
        scratch[key] = parts[-1]
    result = rule.to_zoo(parts)
    if any(result.untyped_storage().data_ptr() == p.untyped_storage().data_ptr() for p in parts):
        result = result.clone()  # a reshape that came back as a view of the buffer
    return result


def _attach_tokenizer(model: Model, folder: Path) -> None:
    if (folder / "tokenizer.json").is_file():
        try:
            from zoo.tokenizer import Tokenizer

            model.tokenizer = Tokenizer.from_folder(folder)
        except ImportError:
            pass


# --- export -----------------------------------------------------------------------------------

def to_hf(model: Model, folder: str | os.PathLike[str], *, max_shard_size: int | str = "5GB",
          progress: bool | None = None) -> list[Path]:
    """Write `model` as a Hugging Face checkpoint that transformers' from_pretrained loads:
    config.json, model.safetensors (or shards and index), and the tokenizer when it has one."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = model.spec
    config = to_hf_config(spec)
    dtype = next(model.parameters()).dtype
    config["torch_dtype"] = str(dtype).removeprefix("torch.")
    config["zoo_spec"] = to_mapping(spec)
    tensors = zoo_to_hf(spec, stored_tensors(model) | {"head.weight": model.head.weight},
                        config)
    files = write_safetensors(tensors, folder / "model.safetensors", {"format": "pt"},
                              parse_bytes(max_shard_size), progress=progress)
    _write_json(folder / "config.json", config)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        files += tokenizer.save(folder)
    return [*files, folder / "config.json"]


def _write_json(path: Path, data: Any) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temp, path)
