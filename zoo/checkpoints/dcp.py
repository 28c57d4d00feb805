"""Distributed checkpoints (`torch.distributed.checkpoint`) with zoo's spec beside them: any
number of ranks saves, any number loads (DCP reshards as it reads), a tied head stored once.

torch writes a checkpoint's `.metadata` with pickle; zoo reads it with an unpickler that can
name only DCP's own records (`read_checkpoint_metadata`), so no code runs whatever the file
holds. One process converts to and from zoo's safetensors (`checkpoint_to_zoo`,
`zoo_to_checkpoint`). Sharding a model over ranks (FSDP2) is `zoo.distributed`.
"""

from __future__ import annotations

import contextlib
import pickle
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from zoo.checkpoints.metadata import (
    read_checkpoint_info,
    read_checkpoint_spec,
    write_checkpoint_spec,
)
from zoo.files import WeightsError
from zoo.files.errors import open_regular
from zoo.files.safetensors import member
from zoo.model import Model, create_model
from zoo.spec import ModelSpec
from zoo.units import canonical_dtype


@contextlib.contextmanager
def _single_process_quiet() -> Iterator[None]:
    """Outside torchrun, DCP reads and writes in one process, as intended here: say nothing."""
    with warnings.catch_warnings():
        if not dist.is_initialized():
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


# the state-dict entry that is another's tensor when the head is tied: stored once, as the
# embedding, and re-tied on load (as zoo's safetensors files do)
TIED = {"head.weight": "embed.weight"}


def _stored(model: Model, state: dict[str, Any]) -> dict[str, Any]:
    """The state dict without the entries a tied head shares."""
    return {k: v for k, v in state.items() if not (model.spec.tie_embeddings and k in TIED)}


def save_checkpoint(model: Model, folder: str | Path) -> list[Path]:
    """A distributed checkpoint: every rank writes its shards, a tied head once (as the
    embedding); the spec and the dtype go beside them. Returns the files of the checkpoint."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    folder = Path(folder)
    with _single_process_quiet():
        dcp.save({"model": _stored(model, get_model_state_dict(model))},
                 checkpoint_id=str(folder))
    if not dist.is_initialized() or dist.get_rank() == 0:
        write_checkpoint_spec(model.spec, folder, canonical_dtype(str(_dtype(model))))
    return sorted(p for p in folder.iterdir() if p.is_file())


def _dtype(model: Model) -> torch.dtype:
    return next(model.parameters()).dtype


def checkpoint_spec(folder: str | Path) -> ModelSpec:
    return read_checkpoint_spec(Path(folder))


def load_checkpoint(model: Model, folder: str | Path) -> None:
    """Fill a model (sharded any way, or whole) from a distributed checkpoint saved by any
    number of ranks: torch.distributed.checkpoint reshards as it reads. Its `.metadata` is read
    by `read_checkpoint_metadata`, never by pickle."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

    state = get_model_state_dict(model)
    stored = {"model": _stored(model, state)}  # a checkpoint with the head twice loads too
    reader = _checked_reader(Path(folder))  # refuses a crafted .metadata before torch runs
    with _single_process_quiet():
        dcp.load(stored, storage_reader=reader)
    loaded = stored["model"]
    for name, source in TIED.items():
        if name in state and name not in loaded:
            loaded[name] = loaded[source]
    set_model_state_dict(model, loaded)


# what a checkpoint's .metadata may build: DCP's own metadata records, sizes, dtypes, layouts
# and paths; anything else (a function to call, a class to run) refuses the file
_METADATA_CLASSES = {
    ("torch.distributed.checkpoint.metadata", name) for name in (
        "Metadata", "TensorStorageMetadata", "BytesStorageMetadata", "ChunkStorageMetadata",
        "TensorProperties", "StorageMeta", "MetadataIndex", "_MEM_FORMAT_ENCODING")} | {
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"), ("torch", "Size"),
    ("torch.serialization", "_get_layout"), ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"), ("pathlib", "PurePosixPath"), ("pathlib", "PureWindowsPath")}


class _MetadataUnpickler(pickle.Unpickler):
    """pickle with its globals restricted (the Python documentation's recipe): only
    `_METADATA_CLASSES` and torch's dtypes can be named, so no code runs whatever the file holds."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _METADATA_CLASSES or (
                module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)):
            return super().find_class(module, name)
        raise WeightsError(f"{self.path}: refused: it names {module}.{name}, which no "
                           f"checkpoint's metadata holds; zoo never unpickles anything else")


def read_checkpoint_metadata(folder: str | Path) -> Any:
    """A distributed checkpoint's `.metadata` (torch writes it with pickle), read without
    running anything it holds, then checked: every entry a tensor (DCP would read any other
    entry with torch.load(weights_only=False)), every storage file inside the folder."""
    from torch.distributed.checkpoint.filesystem import _StorageInfo
    from torch.distributed.checkpoint.metadata import Metadata, TensorStorageMetadata

    folder = Path(folder)
    path = folder / ".metadata"
    try:
        with open_regular(path) as f:
            metadata = _MetadataUnpickler(f, path).load()
    except OSError as err:
        raise WeightsError(f"{path}: cannot read: {err.strerror or err}") from None
    except WeightsError:
        raise
    except Exception as err:  # a corrupt pickle fails in many ways
        raise WeightsError(f"{path}: not a checkpoint's metadata ({type(err).__name__}: "
                           f"{str(err)[:200]})") from None
    if not isinstance(metadata, Metadata) or not isinstance(metadata.state_dict_metadata, dict):
        raise WeightsError(f"{path}: not a checkpoint's metadata (it holds "
                           f"{type(metadata).__name__})")
    for name, entry in metadata.state_dict_metadata.items():
        if not isinstance(entry, TensorStorageMetadata):
            raise WeightsError(f"{path}: entry {name!r} is {type(entry).__name__}, not a tensor; "
                               f"zoo's checkpoints hold tensors only")
    for info in (metadata.storage_data or {}).values():
        if not isinstance(info, _StorageInfo):
            raise WeightsError(f"{path}: its storage_data holds {type(info).__name__}")
        member(folder, str(info.relative_path), f"{path}: storage file")
    return metadata


def _checked_reader(folder: Path) -> Any:
    """torch's FileSystemReader, given the metadata `read_checkpoint_metadata` read (once)."""
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import StorageMeta

    metadata = read_checkpoint_metadata(folder)

    class CheckedReader(FileSystemReader):
        def read_metadata(self, *args: Any, **kwargs: Any) -> Any:
            if getattr(metadata, "storage_meta", None) is None:
                metadata.storage_meta = StorageMeta()
            metadata.storage_meta.load_id = self.load_id
            return metadata

    return CheckedReader(str(folder))


def load_checkpoint_model(folder: str | Path, *, dtype: str | None = None) -> Model:
    """A whole model from a distributed checkpoint, in one process (needs it in RAM), in the
    dtype its tensors are stored in unless `dtype` says otherwise."""
    spec, stored = read_checkpoint_info(Path(folder))
    model = create_model(spec, dtype=dtype or stored)
    load_checkpoint(model, folder)
    return model.eval()


def checkpoint_to_zoo(folder: str | Path, out: str | Path, *, dtype: str | None = None,
                      **save_options: Any) -> list[Path]:
    """A distributed checkpoint -> zoo safetensors, in one process (needs the model in RAM), in
    the checkpoint's own dtype unless `dtype` says otherwise."""
    from zoo.checkpoints.native import save

    return save(load_checkpoint_model(folder, dtype=dtype), out, **save_options)


def zoo_to_checkpoint(path: str | Path, folder: str | Path) -> None:
    """zoo safetensors -> a distributed checkpoint (one process, memory-mapped)."""
    from zoo.checkpoints.native import load

    save_checkpoint(load(path), folder)
