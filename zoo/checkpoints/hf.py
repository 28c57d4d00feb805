"""Hugging Face checkpoints in and out: `from_hf` and `to_hf`.

`from_hf` reads a folder (or a repo id from the local Hugging Face cache, offline first):
config.json becomes a spec (the registry's entry when the architecture matches one), and the
tensors are mapped by the architecture's rules (`zoo.checkpoints.mapping`) onto a model built on
the meta device. Tensors used as stored stay views of memory maps; tensors that must be
transposed or regrouped are read into fresh memory one rule at a time, so peak memory stays
near the size of the weights. transformers is never imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.architectures import UnsupportedConfigError, entry_for, spec_for_config, write_config
from zoo.checkpoints.fill import fill_from
from zoo.checkpoints.mapping import TensorSource, rules, zoo_to_hf
from zoo.checkpoints.native import stored_tensors
from zoo.files import WeightsError
from zoo.files.commit import write_safetensors
from zoo.files.folder import created, replace_file
from zoo.files.hub import read_config, resolve_folder
from zoo.files.safetensors import member, read_index, weights_file
from zoo.files.safetensors_io import open_safetensors
from zoo.model import Model
from zoo.model.quantize import Packing
from zoo.spec import SpecError, to_mapping
from zoo.units import check_quantization, parse_bytes


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
    except FileNotFoundError:
        found = None
    if found is not None:
        return open_safetensors(found)
    singles = sorted(folder.glob("*.safetensors"))
    if len(singles) == 1:
        return open_safetensors(singles[0])
    bin_index = folder / "pytorch_model.bin.index.json"
    if bin_index.is_file():  # the same layout as a safetensors index, checked the same way
        shards = sorted(set(read_index(bin_index)["weight_map"].values()))
        return PickleFreeSource([member(folder, s, str(bin_index)) for s in shards])
    if (folder / "pytorch_model.bin").is_file():
        return PickleFreeSource([folder / "pytorch_model.bin"])
    raise WeightsError(f"{folder}: no weights (expected model.safetensors, a safetensors index, "
                       f"or pytorch_model.bin)")


# --- import -----------------------------------------------------------------------------------

def from_hf(path_or_repo_id: str | os.PathLike[str], *, device: str | torch.device | None = None,
            dtype: str | torch.dtype | None = None, strict: bool = True,
            revision: str | None = None, progress: bool | None = None,
            quantize: str | None = None) -> Model:
    """A zoo model from a Hugging Face checkpoint (folder or cached repo id); `quantize`
    ('bf16', 'int8', 'int4') packs its linear layers for CPU inference as they are read
    (`zoo.quantize`), so that the float model is never whole in memory."""
    if quantize is not None:
        check_quantization(quantize)  # before anything is read
    folder = resolve_folder(path_or_repo_id, revision)
    config = read_config(folder)
    label = str(path_or_repo_id).rstrip("/").split("/")[-1]
    try:
        entry = entry_for(config)
        spec = spec_for_config(config, label)
    except (UnsupportedConfigError, SpecError) as err:
        raise WeightsError(f"{folder / 'config.json'}: {err}") from None
    with torch.device("meta"):
        model = Model(spec)
    packing = None if quantize is None else Packing(
        model, quantize, device=torch.device(device if device is not None else "cpu"))
    return fill_from(model, rules(spec, entry, model.state_dict().keys()), open_weights(folder),
                     origin=folder, device=device, dtype=dtype, strict=strict, progress=progress,
                     tokenizer=_tokenizer(folder), packing=packing)


def _tokenizer(folder: Path) -> Any:
    """The checkpoint's tokenizer.json, when it has one (and `tokenizers` is installed)."""
    if not (folder / "tokenizer.json").is_file():
        return None
    try:
        from zoo.tokenizer import Tokenizer
    except ImportError:
        return None
    return Tokenizer.from_folder(folder)


# --- export -----------------------------------------------------------------------------------

def to_hf(model: Model, folder: str | os.PathLike[str], *, max_shard_size: int | str = "5GB",
          progress: bool | None = None) -> list[Path]:
    """Write `model` as a Hugging Face checkpoint that transformers' from_pretrained loads:
    config.json, model.safetensors (or shards and index), and the tokenizer when it has one.

    Every file is replaced whole (`write_safetensors`, `replace_file`), never written through
    a symlink, so converting into a Hugging Face cache snapshot leaves the blobs that its links
    share unchanged. What is refused (a spec no config.json can state) is refused before the
    folder is made, and a failed write removes the folders it made."""
    folder = Path(folder)
    spec = model.spec
    config = write_config(spec)
    dtype = next(model.parameters()).dtype
    config["torch_dtype"] = str(dtype).removeprefix("torch.")
    config["zoo_spec"] = to_mapping(spec)
    tensors = zoo_to_hf(spec, stored_tensors(model) | {"head.weight": model.head.weight},
                        entry_for(config))
    limit = parse_bytes(max_shard_size)
    with created(folder):
        files = write_safetensors(tensors, folder / "model.safetensors", {"format": "pt"},
                                  limit, progress=progress)
        files.append(replace_file(folder / "config.json",
                                  (json.dumps(config, indent=2) + "\n").encode()))
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is not None:
            files += tokenizer.save(folder)
    return files
