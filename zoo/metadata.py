"""What zoo writes into its files so that they describe themselves, read back without torch.

A zoo safetensors file carries its spec (and a classifier head's settings) in the header's
metadata; a sharded set carries them in its index; a distributed checkpoint carries the spec in
a JSON file beside its shards. Reading them needs no model and no torch: this is what lets
`zoo list --local` and `zoo show FILE` answer at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.safetensors_header import (
    WeightsError,
    read_header,
    read_index,
    weights_file,
)
from zoo.spec import ModelSpec, SpecError, spec_from_mapping, to_mapping

FORMAT = "zoo/1"
SPEC_FILE = "zoo_spec.json"  # beside a distributed checkpoint


def zoo_metadata(spec: ModelSpec, head: dict[str, Any]) -> dict[str, str]:
    """The metadata of a zoo safetensors file (safetensors metadata values are strings)."""
    return {"format": "pt", "zoo_format": FORMAT, "zoo_spec": json.dumps(to_mapping(spec)),
            "zoo_head": json.dumps(head)}


def file_metadata(path: Path) -> dict[str, str]:
    """The metadata of a .safetensors file, or of a sharded set (its index's, else the first
    shard's header: sets written before the index carried it hold it there)."""
    if path.name.endswith(".json"):
        index = read_index(path)
        metadata = dict(index.get("metadata") or {})
        if "zoo_spec" in metadata:
            return metadata
        shards = sorted(set(index["weight_map"].values()))
        path = path.parent / shards[0] if shards else path
        if path.name.endswith(".json"):
            return metadata
    header, _, _ = read_header(path)
    metadata = header.get("__metadata__") or {}
    return metadata if isinstance(metadata, dict) else {}


def is_zoo_file(path: Path) -> bool:
    """Whether a file or folder holds zoo's own weights (the spec in the metadata)."""
    try:
        return "zoo_spec" in file_metadata(weights_file(path))
    except (WeightsError, FileNotFoundError):
        return False


def read_zoo_spec(path: Path) -> tuple[ModelSpec, dict[str, Any]]:
    """The spec and head settings a zoo file (or folder, or index) carries."""
    file = weights_file(path)
    metadata = file_metadata(file)
    if "zoo_spec" not in metadata:
        raise WeightsError(f"{file}: no zoo spec in its metadata (not saved by zoo.save); pass "
                           f"spec= to zoo.load, or use zoo.from_hf for a Hugging Face folder")
    try:
        spec = spec_from_mapping(json.loads(metadata["zoo_spec"]), file=str(file))
        head = json.loads(metadata.get("zoo_head") or "{}")
    except (json.JSONDecodeError, SpecError) as err:
        raise WeightsError(f"{file}: its zoo spec metadata is invalid: {err}") from None
    return spec, head


CHECKPOINT_FORMAT = "zoo-dcp/1"


def write_checkpoint_spec(spec: ModelSpec, folder: Path, dtype: str) -> None:
    """The spec and the dtype of a distributed checkpoint, beside it: the checkpoint's own
    metadata is a pickle, which zoo does not read for what it can record itself."""
    data = {"zoo_format": CHECKPOINT_FORMAT, "spec": to_mapping(spec), "dtype": dtype}
    (folder / SPEC_FILE).write_text(json.dumps(data, indent=2))


def read_checkpoint_info(folder: Path) -> tuple[ModelSpec, str | None]:
    """The spec saved beside a distributed checkpoint, and the dtype its tensors are stored in
    (None for checkpoints written before zoo recorded it, whose file is the spec alone)."""
    path = Path(folder) / SPEC_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"{path}: cannot read the checkpoint's spec: {err}") from None
    recorded = isinstance(data, dict) and data.get("zoo_format") == CHECKPOINT_FORMAT
    spec = spec_from_mapping(data["spec"] if recorded else data, file=str(path))
    dtype = data.get("dtype") if recorded else None
    return spec, dtype if isinstance(dtype, str) else None


def read_checkpoint_spec(folder: Path) -> ModelSpec:
    """The spec saved beside a distributed checkpoint."""
    return read_checkpoint_info(folder)[0]
