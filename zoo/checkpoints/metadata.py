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

from zoo.files import NoSpecError, WeightsError
from zoo.files.errors import parse_json
from zoo.files.safetensors import member, read_header, read_index, weights_file
from zoo.spec import ModelSpec, SpecError, spec_from_mapping, to_mapping

FORMAT = "zoo/1"
SPEC_FILE = "zoo_spec.json"  # beside a distributed checkpoint


def zoo_metadata(spec: ModelSpec, head: dict[str, Any]) -> dict[str, str]:
    """The metadata of a zoo safetensors file (safetensors metadata values are strings)."""
    return {"format": "pt", "zoo_format": FORMAT, "zoo_spec": json.dumps(to_mapping(spec)),
            "zoo_head": json.dumps(head)}


def file_metadata(path: Path) -> dict[str, Any]:
    """The metadata of a .safetensors file, or of a sharded set (its index's, else the first
    shard's header: sets written before the index carried it hold it there)."""
    if path.name.endswith(".json"):
        index = read_index(path)
        metadata = dict(index.get("metadata") or {})
        shards = sorted(set(index["weight_map"].values()))
        if "zoo_spec" in metadata or not shards:
            return metadata
        path = member(path.parent, shards[0], str(path))
    header, _, _ = read_header(path)
    return header.get("__metadata__") or {}


def is_zoo_file(path: Path) -> bool:
    """Whether a file or folder holds zoo's own weights (the spec in the metadata)."""
    try:
        return "zoo_spec" in file_metadata(weights_file(path))
    except (WeightsError, FileNotFoundError):
        return False


# what a file may say about the model's head; anything else (dropout, say) is refused
HEAD_KEYS = {"head": str, "num_labels": int, "pooling": str}


def spec_from_metadata(metadata: dict[str, Any], origin: Path) -> tuple[ModelSpec, dict[str, Any]]:
    """The spec and head settings in a zoo file's metadata (`origin` names the file in errors):
    `zoo_spec`, a JSON object of spec fields, and `zoo_head`, a JSON object of HEAD_KEYS."""
    if "zoo_spec" not in metadata:
        raise NoSpecError(f"{origin}: no zoo spec in its metadata (not saved by zoo.save); pass "
                          f"spec= to zoo.load, or use zoo.from_hf for a Hugging Face folder",
                          "no config.json beside it and no zoo spec in its metadata")
    try:
        spec = spec_from_mapping(_json_field(metadata, "zoo_spec", origin), file=str(origin))
    except SpecError as err:
        raise WeightsError(f"{origin}: its zoo_spec metadata is invalid: {err}") from None
    head = _json_field(metadata, "zoo_head", origin) if "zoo_head" in metadata else {}
    for key, value in head.items():
        kind = HEAD_KEYS.get(key)
        if kind is None:
            raise WeightsError(f"{origin}: zoo_head metadata: unknown key {key!r}; it may set "
                               f"{', '.join(HEAD_KEYS)}")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise WeightsError(f"{origin}: zoo_head metadata: {key} must be "
                               f"{'an integer' if kind is int else 'a string'}, got {value!r}")
    if not 1 <= head.get("num_labels", 2) <= MAX_LABELS:
        raise WeightsError(f"{origin}: zoo_head metadata: num_labels must be within "
                           f"1..{MAX_LABELS:,}, got {head['num_labels']}")
    return spec, head


MAX_LABELS = 1_000_000  # classifier outputs a file may ask for


def _json_field(metadata: dict[str, Any], key: str, origin: Path) -> dict[str, Any]:
    value = metadata[key]  # bounded depth: a crafted file's nesting is one error, not a crash
    data = parse_json(value, f"{origin}: its {key} metadata") if isinstance(value, str) else None
    if not isinstance(data, dict):
        found = type(data if data is not None else value).__name__
        raise WeightsError(f"{origin}: its {key} metadata must be a JSON object (a string "
                           f"holding one), got {found}")
    return data


def read_zoo_spec(path: Path) -> tuple[ModelSpec, dict[str, Any]]:
    """The spec and head settings a zoo file (or folder, or index) carries."""
    file = weights_file(path)
    return spec_from_metadata(file_metadata(file), file)


CHECKPOINT_FORMAT = "zoo-dcp/1"


def write_checkpoint_spec(spec: ModelSpec, folder: Path, dtype: str) -> None:
    """The spec and the dtype of a distributed checkpoint, beside it: the checkpoint's own
    metadata is a pickle, which zoo does not read for what it can record itself."""
    data = {"zoo_format": CHECKPOINT_FORMAT, "spec": to_mapping(spec), "dtype": dtype}
    (folder / SPEC_FILE).write_text(json.dumps(data, indent=2))


def read_checkpoint_info(folder: Path) -> tuple[ModelSpec, str | None]:
    """The spec saved beside a distributed checkpoint, and the dtype its tensors are stored in
    (None for checkpoints written before zoo recorded it, whose file is the spec alone)."""
    folder = Path(folder)
    path = folder / SPEC_FILE
    if not folder.is_dir():
        raise WeightsError(f"{folder}: no such folder (a distributed checkpoint is a folder)")
    if not path.is_file():
        raise WeightsError(f"{folder}: not a distributed checkpoint written by zoo (no "
                           f"{SPEC_FILE} beside its shards)")
    try:
        data = parse_json(path.read_bytes(), str(path))  # bounded depth, one error
    except OSError as err:
        raise WeightsError(f"{path}: cannot read the checkpoint's spec: "
                           f"{(err.strerror or str(err)).lower()}") from None
    recorded = isinstance(data, dict) and data.get("zoo_format") == CHECKPOINT_FORMAT
    spec = spec_from_mapping(data["spec"] if recorded else data, file=str(path))
    dtype = data.get("dtype") if recorded else None
    return spec, dtype if isinstance(dtype, str) else None


def read_checkpoint_spec(folder: Path) -> ModelSpec:
    """The spec saved beside a distributed checkpoint."""
    return read_checkpoint_info(folder)[0]
