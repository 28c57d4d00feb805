"""zoo's own weights format: safetensors with the spec in the metadata, so a file is
self-describing; saved atomically, loaded from memory maps onto a meta-built model. Also the
writer and the filler every format shares: `write_safetensors` (atomic, sharded) and `fill`
(tensors produced on demand, checked by name and shape, assigned to a meta-built model).

Layout: one `.safetensors` file, or, above `max_shard_size`, shards named and indexed as the
Hugging Face convention does (`<stem>-00001-of-0000N.safetensors` and
`<stem>.safetensors.index.json`). A tied head is stored once (as the embedding) and re-tied on
load. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.metadata import read_zoo_spec, zoo_metadata
from zoo.model import Model, check_fits, resolve_dtype
from zoo.safetensors_header import INDEX_SUFFIX, WeightsError, weights_file
from zoo.safetensors_io import open_safetensors
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
    """Write the model's weights (and spec) to `path` atomically; returns the files written.

    `path` is a `.safetensors` file name, or a folder (then `model.safetensors` inside it).
    """
    metadata = zoo_metadata(model.spec, _head_config(model))
    return write_safetensors(stored_tensors(model), _target(path), metadata,
                             parse_bytes(max_shard_size), progress=progress)


def _target(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.is_dir() or path.suffix == "":
        path.mkdir(parents=True, exist_ok=True)
        return path / "model.safetensors"
    if not path.name.endswith(".safetensors"):
        raise ValueError(f"{path}: weights are saved as .safetensors (or into a folder)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _shard(tensors: dict[str, Tensor], limit: int) -> list[dict[str, Tensor]]:
    shards: list[dict[str, Tensor]] = [{}]
    size = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > limit:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    return shards


def write_safetensors(tensors: dict[str, Tensor], target: Path, metadata: dict[str, str],
                      max_shard_size: int, *, progress: bool | None = None) -> list[Path]:
    """Single file or HF-style shards + index, every file written to a temporary name first.

    A crash or a full disk while writing leaves the final names untouched (a previous save
    stays whole); only then are the files renamed into place, the index last, and shards of a
    previous save that the new index no longer lists removed.
    """
    from safetensors.torch import save_file

    shards = _shard(tensors, max_shard_size)
    stem = target.name.removesuffix(".safetensors")
    if len(shards) == 1:
        names = [target.name]
    else:
        names = [f"{stem}-{i:05d}-of-{len(shards):05d}.safetensors"
                 for i in range(1, len(shards) + 1)]
    index_path = target.parent / f"{stem}{INDEX_SUFFIX}"
    old_shards = _listed_shards(index_path)
    written: list[tuple[Path, Path]] = []
    try:
        nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
        for name, shard in zip(names, _progress(shards, progress, "saving", nbytes=nbytes),
                               strict=True):
            final = target.parent / name
            temp = _temp_path(final)
            written.append((temp, final))
            cpu = {k: v.detach().to("cpu").contiguous() for k, v in shard.items()}
            save_file(cpu, str(temp), metadata=metadata)
            _fsync(temp)
        index_temp = None
        if len(shards) > 1:
            index = {"metadata": {**metadata, "total_size": sum(
                t.numel() * t.element_size() for t in tensors.values())},
                "weight_map": {k: n for n, s in zip(names, shards, strict=True) for k in s}}
            index_temp = _temp_path(index_path)
            index_temp.write_text(json.dumps(index, indent=2, sort_keys=True))
            _fsync(index_temp)
    except BaseException as err:
        for temp, _ in written:
            temp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OSError(err.errno, f"saving to {target.parent} failed, previous files kept: "
                                     f"{err.strerror or err}") from err
        raise
    for temp, final in written:
        os.replace(temp, final)
    if index_temp is not None:
        os.replace(index_temp, index_path)
    else:
        index_path.unlink(missing_ok=True)  # a single file replaces an older sharded save
    for stale in old_shards - set(names):
        (target.parent / stale).unlink(missing_ok=True)
    return [target.parent / n for n in names] + ([index_path] if len(shards) > 1 else [])


def _listed_shards(index_path: Path) -> set[str]:
    try:
        return set(json.loads(index_path.read_text())["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _temp_path(final: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    return Path(name)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


LARGE = 10**9  # bytes from which a long operation shows a progress bar by default


def _progress(items: Iterable[Any], enabled: bool | None, label: str, *, nbytes: int,
              total: int | None = None) -> Any:
    """A tqdm bar over `items` when asked (True), or by default (None) for a large checkpoint
    on a terminal; plain iteration otherwise."""
    if enabled is False or (enabled is None and nbytes < LARGE):
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=label, total=total, unit="tensor" if label != "saving" else "file",
                disable=None if enabled is None else False)


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
    file = weights_file(Path(path))
    head: dict[str, Any] = {}
    if spec is None:
        spec, head = read_zoo_spec(file)
    if device_map is not None:
        return _dispatch(spec, head, file, device_map, max_memory, offload_folder, dtype)
    source = open_safetensors(file)
    with torch.device("meta"):
        model = Model(spec, **head)
    names = source.names()
    return fill(model, {name: partial(source.read, name) for name in names},
                shapes={name: source.shape(name) for name in names}, device=device,
                dtype=dtype, strict=strict, origin=str(file),
                ignore_memory_limit=ignore_memory_limit, progress=progress)


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
         ignore_memory_limit: bool = False, progress: bool | None = None) -> Model:
    """Assign tensors (produced on demand) to a meta-built model, checking names and shapes.

    A mismatch is listed by name with expected and found shapes: an error when `strict`, a
    warning and `model.load_report` otherwise (missing tensors then get the usual init).
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
    if not ignore_memory_limit and target.type != "meta":
        nbytes = sum(math.prod(shapes[n]) * (convert_to.itemsize if convert_to else
                                          current[n].element_size()) for n in wanted)
        if target.type != "cpu" or convert_to is not None:  # copies, not memory-map views
            check_fits(model.spec, nbytes, target, convert_to or torch.float32)
    state = {}
    nbytes = sum(math.prod(shapes[n]) * current[n].element_size() for n in wanted)
    for name in _progress(wanted, progress, "loading", nbytes=nbytes, total=len(wanted)):
        tensor = tensors[name]()
        if convert_to is not None and tensor.is_floating_point():
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
