"""zoo's own weights format: safetensors with the spec in the metadata, so a file is
self-describing; saved as one commit, loaded from memory maps onto a meta-built model. Also
the writer and the filler every format shares: `write_safetensors` (one commit, sharded) and
`fill` (tensors produced on demand, checked by name, shape and dtype, assigned to a meta-built
model).

Layout: one `.safetensors` file, or, above `max_shard_size`, shards and an index as Hugging Face
lays them out (`<stem>.safetensors.index.json` naming `<stem>-00001-of-0000N-<tag>.safetensors`,
the tag fresh for every save). A tied head is stored once (as the embedding) and re-tied on
load. Nothing is ever unpickled.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.files import WeightsError
from zoo.files.commit import write_safetensors
from zoo.files.progress import progress_bar
from zoo.files.safetensors import safetensors_target
from zoo.files.safetensors_io import open_safetensors
from zoo.metadata import spec_from_metadata, zoo_metadata
from zoo.model import Model, ModelTooLargeError, check_fits, resolve_dtype
from zoo.spec import ModelSpec
from zoo.units import parse_bytes


@dataclass
class LoadReport:
    """What a non-strict load found wrong; empty when everything matched."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        lines = []
        if self.missing:
            lines.append(f"missing ({len(self.missing)}): {', '.join(self.missing)}")
        if self.unexpected:
            lines.append(f"unexpected ({len(self.unexpected)}): {', '.join(self.unexpected)}")
        for name, expected, found in self.mismatched:
            lines.append(f"mis-shaped: {name}: expected {list(expected)}, found {list(found)}")
        return "\n  ".join(lines)


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
    target = safetensors_target(path)
    limit = parse_bytes(max_shard_size)
    tensors = stored_tensors(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_safetensors(tensors, target, metadata, limit, progress=progress)


# --- loading --------------------------------------------------------------------------------

def load(path: str | os.PathLike[str], *, device: str | torch.device | None = None,
         dtype: str | torch.dtype | None = None, strict: bool = True,
         spec: ModelSpec | None = None, ignore_memory_limit: bool = False,
         progress: bool | None = None, device_map: str | dict[str, Any] | None = None,
         max_memory: dict[Any, int | str] | None = None,
         offload_folder: str | os.PathLike[str] | None = None) -> Model:
    """A model from a file (or folder, or sharded set) saved by `zoo.save`; the spec is read
    from its metadata unless `spec` is given (a plain safetensors file of zoo's names).

    Built on the meta device and filled with memory-mapped tensors, so memory stays near the
    size of the weights. `strict=False` loads what matches and reports the rest (missing
    tensors are initialised) in `model.load_report`.

    `device_map` ("auto", or a map of module names to devices) spreads the blocks over the
    devices, CPU and disk through accelerate's big-model inference, within `max_memory`
    (e.g. {0: "20GB", "cpu": "60GB"}); what does not fit is offloaded to `offload_folder`.
    """
    source = open_safetensors(path)  # the spec comes from the files the tensors come from
    head: dict[str, Any] = {}
    if spec is None:
        spec, head = spec_from_metadata(source.metadata, source.path)
    if device_map is not None:
        return _dispatch(spec, head, source.path, device_map, max_memory, offload_folder, dtype)
    model = _meta_model(spec, head, source.path)
    names = source.names()
    return fill(model, {name: partial(source.read, name) for name in names},
                shapes={name: source.shape(name) for name in names},
                dtypes={name: source.dtype(name) for name in names}, device=device,
                dtype=dtype, strict=strict, origin=str(source.path),
                ignore_memory_limit=ignore_memory_limit, progress=progress)


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


def fill(model: Model, tensors: dict[str, Callable[[], Tensor]], *,
         shapes: dict[str, tuple[int, ...]], device: str | torch.device | None,
         dtype: str | torch.dtype | None, strict: bool, origin: str,
         ignore_memory_limit: bool = False, progress: bool | None = None,
         dtypes: dict[str, torch.dtype] | None = None) -> Model:
    """Assign tensors (produced on demand) to a meta-built model, checking names, shapes and
    dtypes (`dtypes`, the stored ones where the source knows them without reading).

    A mismatch is listed by name with expected and found shapes: an error when `strict`, a
    warning and `model.load_report` otherwise (missing tensors then get the usual init). On
    the meta device nothing is read. Elsewhere the weights must fit in the device's free memory
    (memory-mapped ones too: a model larger than memory would be read from disk at every step),
    unless `ignore_memory_limit`.
    """
    target = torch.device(device if device is not None else "cpu")
    current = model.state_dict()
    expected = {name: tuple(t.shape) for name, t in current.items()}
    tied = {"head.weight"} if model.spec.tie_embeddings else set()
    report = LoadReport(
        missing=[n for n in expected if n not in tensors and n not in tied],
        unexpected=[n for n in tensors if n not in expected],
        mismatched=[(n, expected[n], tuple(shapes[n])) for n in tensors
                    if n in expected and tuple(shapes[n]) != expected[n]])
    if report and strict:
        raise WeightsError(f"{origin} does not match {model.spec.name}:\n  {report.describe()}"
                           f"\n(pass strict=False to load what matches)")
    mismatched = {name for name, _, _ in report.mismatched}
    wanted = [n for n in tensors if n in expected and n not in mismatched]
    convert_to = resolve_dtype(dtype) if dtype is not None else None
    dtypes = dtypes or {}
    stored = {n: dtypes.get(n, current[n].dtype) for n in wanted}
    nbytes = sum(math.prod(shapes[n]) * (convert_to or stored[n]).itemsize for n in wanted)
    if not ignore_memory_limit and target.type != "meta":
        shown = convert_to or (stored[wanted[0]] if wanted else torch.float32)
        try:
            check_fits(model.spec, nbytes, target, shown)
        except ModelTooLargeError as err:
            raise ModelTooLargeError(f"{origin}: {err}") from None
    state = {}
    first: dict[str, torch.dtype] = {}
    for name in progress_bar(wanted, progress, "loading", nbytes=nbytes, total=len(wanted)):
        if target.type == "meta":
            tensor = torch.empty(shapes[name], dtype=stored[name], device="meta")
        else:
            tensor = tensors[name]()
        _check_dtype(origin, name, tensor.dtype, first, convert_to)
        if convert_to is not None:
            tensor = tensor.to(convert_to)
        state[name] = tensor.to(target) if tensor.device != target else tensor
    model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    if report.missing or report.mismatched:
        _materialize(model, target, convert_to)
    if report:
        warnings.warn(f"{origin} loaded into {model.spec.name} non-strictly:\n  "
                      f"{report.describe()}", stacklevel=3)
    model.load_report = report
    return model.eval()


COMPUTE_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def _check_dtype(origin: str, name: str, dtype: torch.dtype, first: dict[str, torch.dtype],
                 convert_to: torch.dtype | None) -> None:
    """Weights are floating point, and, unless converted on load (`dtype=`), all of one dtype a
    model computes in: a tensor stored otherwise would load, and fail in the forward pass."""
    if not dtype.is_floating_point:
        raise WeightsError(f"{origin}: tensor {name} is stored as {str(dtype)[6:]}; weights are "
                           f"floating point (float32, bfloat16, float16)")
    if convert_to is not None:
        return
    if dtype not in COMPUTE_DTYPES:
        raise WeightsError(f"{origin}: tensor {name} is stored as {str(dtype)[6:]}, which a "
                           f"model does not compute in; pass dtype='bf16' (or fp16, fp32) to "
                           f"convert on load")
    if not first:
        first[name] = dtype
    (other, other_dtype), = first.items()
    if dtype != other_dtype:
        raise WeightsError(f"{origin}: tensor {name} is stored as {str(dtype)[6:]} but {other} "
                           f"as {str(other_dtype)[6:]}; a model computes in one dtype: pass "
                           f"dtype='fp32' (or bf16, fp16) to convert on load")


def _materialize(model: Model, device: torch.device, dtype: torch.dtype | None) -> None:
    """Give parameters still on meta (not in the checkpoint) real memory and the usual init."""
    fresh = set()
    for module_name, module in model.named_modules():
        for name, param in list(module._parameters.items()):
            if param is not None and param.is_meta:
                tensor = torch.empty(param.shape, device=device, dtype=dtype or param.dtype)
                module._parameters[name] = torch.nn.Parameter(tensor, param.requires_grad)
                fresh.add(f"{module_name}.{name}" if module_name else name)
    model.tie_weights()
    model.init_weights(only=fresh)
