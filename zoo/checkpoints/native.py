"""zoo's own weights format: safetensors with the spec in the metadata, so a file is
self-describing; saved as one commit (`zoo.files.commit`), loaded from memory maps onto a
meta-built model (`zoo.checkpoints.fill`).

Layout: one `.safetensors` file, or, above `max_shard_size`, shards and an index as Hugging Face
lays them out (`<stem>.safetensors.index.json` naming `<stem>-00001-of-0000N-<tag>.safetensors`,
the tag fresh for every save). A tied head is stored once (as the embedding) and re-tied on
load. Nothing is ever unpickled.
"""

from __future__ import annotations

import os
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.checkpoints.fill import fill
from zoo.checkpoints.metadata import spec_from_metadata, zoo_metadata
from zoo.files import WeightsError
from zoo.files.commit import write_safetensors
from zoo.files.folder import created
from zoo.files.safetensors import safetensors_target
from zoo.files.safetensors_io import open_safetensors
from zoo.model import Model, resolve_dtype
from zoo.model.quantize import Packing
from zoo.spec import ModelSpec
from zoo.units import check_quantization, parse_bytes

# --- saving ---------------------------------------------------------------------------------


def _head_config(model: Model) -> dict[str, Any]:
    if model.classifier is None:
        return {}
    return {"head": "classify", "num_labels": model.classifier.out_features,
            "pooling": model.pooling}


def stored_tensors(model: Model) -> dict[str, Tensor]:
    """The state dict with each shared tensor once (a tied head is the embedding)."""
    if getattr(model, "quantized", None):
        raise ValueError(f"cannot save {model.spec.name}: its weights are packed for inference "
                         f"({model.quantized}, zoo.quantize), in kernel layouts no format "
                         f"stores; save the model before quantizing it")
    seen: dict[tuple[int, int], str] = {}
    out: dict[str, Tensor] = {}
    for name, tensor in model.state_dict().items():
        if tensor.is_meta:
            raise ValueError(f"cannot save {name}: the model is on the meta device (no weights)")
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if key in seen and tensor.numel():
            continue
        seen[key] = name
        out[name] = tensor
    return out


def save(model: Model, path: str | os.PathLike[str], *, max_shard_size: int | str = "5GB",
         progress: bool | None = None) -> list[Path]:
    """Write the model's weights (and spec) to `path` as one commit; returns the files written.

    `path` is a `.safetensors` file name, or a folder (then `model.safetensors` inside it).
    """
    metadata = zoo_metadata(model.spec, _head_config(model))
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:  # kept in the file, so that it needs nothing beside it
        metadata[TOKENIZER_KEY] = tokenizer.to_json()
    target = safetensors_target(path)
    limit = parse_bytes(max_shard_size)
    tensors = stored_tensors(model)
    with created(target.parent):  # removed again, with its parents, if nothing is written
        return write_safetensors(tensors, target, metadata, limit, progress=progress)


# --- loading --------------------------------------------------------------------------------

def load(path: str | os.PathLike[str], *, device: str | torch.device | None = None,
         dtype: str | torch.dtype | None = None, strict: bool = True,
         spec: ModelSpec | None = None, ignore_memory_limit: bool = False,
         progress: bool | None = None, device_map: str | dict[str, Any] | None = None,
         max_memory: dict[Any, int | str] | None = None,
         offload_folder: str | os.PathLike[str] | None = None,
         quantize: str | None = None) -> Model:
    """A model from a file (or folder, or sharded set) saved by `zoo.save`; the spec is read
    from its metadata unless `spec` is given (a plain safetensors file of zoo's names).

    Built on the meta device and filled with memory-mapped tensors, so memory stays near the
    size of the weights. `strict=False` loads what matches and reports the rest (missing
    tensors are initialised) in `model.load_report`.

    `device_map` ("auto", or a map of module names to devices) spreads the blocks over the
    devices, CPU and disk through accelerate's big-model inference, within `max_memory`
    (e.g. {0: "20GB", "cpu": "60GB"}); what does not fit is offloaded to `offload_folder`.

    `quantize` ('bf16', 'int8', 'int4') packs the linear layers for CPU inference as they are
    read (`zoo.quantize`), so that the float model is never whole in memory.
    """
    if quantize is not None:
        check_quantization(quantize)  # before anything is read
        if device_map is not None:
            raise ValueError("quantize packs weights for the CPU; it does not combine with "
                             "device_map")
    source = open_safetensors(path)  # the spec comes from the files the tensors come from
    head: dict[str, Any] = {}
    if spec is None:
        spec, head = spec_from_metadata(source.metadata, source.path)
    if device_map is not None:
        return _dispatch(spec, head, source.path, device_map, max_memory, offload_folder, dtype)
    model = _meta_model(spec, head, source.path)
    names = source.names()
    tokenizer = _tokenizer(source.metadata, source.path)
    packing = None if quantize is None else Packing(
        model, quantize, device=torch.device(device if device is not None else "cpu"))
    model = fill(model, {name: partial(source.read, name) for name in names},
                 shapes={name: source.shape(name) for name in names},
                 dtypes={name: source.dtype(name) for name in names}, device=device,
                 dtype=dtype, strict=strict, origin=str(source.path),
                 ignore_memory_limit=ignore_memory_limit, progress=progress, packing=packing)
    model.tokenizer = tokenizer
    return model


TOKENIZER_KEY = "zoo_tokenizer"  # the metadata key `save` keeps the model's tokenizer under


def _tokenizer(metadata: dict[str, str], origin: Path) -> Any:
    """The tokenizer a file keeps in its metadata, if any."""
    text = metadata.get(TOKENIZER_KEY)
    if text is None:
        return None
    from zoo.tokenizer import Tokenizer

    try:
        return Tokenizer.from_json(text)
    except Exception as err:  # tokenizers raises an exception type of its own
        raise WeightsError(f"{origin}: {TOKENIZER_KEY} metadata is not a tokenizer: "
                           f"{err}") from None


def _meta_model(spec: ModelSpec, head: dict[str, Any], origin: Path) -> Model:
    try:
        with torch.device("meta"):
            return Model(spec, **head)
    except ValueError as err:
        raise WeightsError(f"{origin}: zoo_head metadata: {err}") from None


def _dispatch(spec: ModelSpec, head: dict[str, Any], file: Path, device_map: Any,
              max_memory: Any, offload_folder: Any, dtype: Any) -> Model:
    """accelerate's big-model inference: empty model, then weights dispatched block by block."""
    try:
        from accelerate import (
            infer_auto_device_map,
            init_empty_weights,
            load_checkpoint_and_dispatch,
        )
    except ImportError:
        raise ImportError("device_map needs accelerate: pip install 'zoo[distributed]'") from None

    _meta_model(spec, head, file)  # the head settings checked
    with init_empty_weights():
        model = Model(spec, **head)
    model.tie_weights()
    if device_map == "auto":
        device_map = infer_auto_device_map(model, max_memory=max_memory,
                                           no_split_module_classes=["Block"])
        if set(device_map.values()) == {"disk"}:
            # accelerate cannot read a single file into disk-only modules: keep the embedding
            # (and a head tied to it) in memory, everything else on disk
            in_memory = {"embed", "head"} if spec.tie_embeddings else {"embed"}
            device_map = {name: "cpu" if name in in_memory else "disk"
                          for name, _ in model.named_children()}
    if offload_folder is None and "disk" in set(device_map.values()):
        offload_folder = tempfile.mkdtemp(prefix="zoo-offload-")
    model = load_checkpoint_and_dispatch(
        model, str(file), device_map=device_map, max_memory=max_memory,
        no_split_module_classes=["Block"], offload_folder=offload_folder,
        dtype=resolve_dtype(dtype) if dtype is not None else None)
    return model.eval()
