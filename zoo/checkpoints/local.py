"""Where a registry model's weights already are on this machine.

Two places are looked at, without importing torch or huggingface_hub: the Hugging Face hub
cache (`zoo.files.hub`), and zoo weights folders (ZOO_WEIGHTS, an os.pathsep-separated list,
default ~/.cache/zoo/weights) holding checkpoints in the formats the table marks `listable`
(those whose spec, read from their metadata, names the model: zoo safetensors, GGUF,
distributed checkpoints), found by the names each format declares, listed under that spec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from zoo.checkpoints.formats import FORMATS, Format
from zoo.files import WeightsError
from zoo.files.hub import DOWNLOAD_COMMAND, cached_snapshot
from zoo.files.safetensors import INDEX_SUFFIX, read_index
from zoo.spec import ModelSpec, SpecError


@dataclass(frozen=True)
class LocalWeights:
    model: str
    where: str  # "hf-cache" or "zoo"
    path: Path
    size: int  # bytes on disk

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "where": self.where, "path": str(self.path),
                "size": self.size}


def zoo_weight_dirs() -> list[Path]:
    listed = [p for p in os.environ.get("ZOO_WEIGHTS", "").split(os.pathsep) if p.strip()]
    return [Path(p) for p in listed] or [Path.home() / ".cache" / "zoo" / "weights"]


def _size(paths: list[Path]) -> int:
    """Bytes of the files, links resolved once each (the hub links snapshots to blobs)."""
    seen: set[Path] = set()
    total = 0
    for path in paths:
        real = path.resolve()
        if real not in seen and real.is_file():
            seen.add(real)
            total += real.stat().st_size
    return total


def in_hf_cache(repo_id: str) -> LocalWeights | None:
    """The newest cached snapshot of a repo that holds weights, if any."""
    found = cached_snapshot(repo_id)
    if found is None:
        return None
    snapshot, files = found
    return LocalWeights(repo_id, "hf-cache", snapshot, _size(files))


# the formats whose files name their model (`Format.listable`), in the table's order
LISTABLE = tuple(fmt for fmt in FORMATS.values() if fmt.listable)


def _checkpoint(file: Path) -> Path | None:
    """The checkpoint a file in a weights folder stands for, by the names the listable formats
    declare: the file itself, or the folder it marks. A shard (`-of-` in its name) is not one:
    its index is."""
    for fmt in LISTABLE:
        if fmt.folder and file.name in fmt.suffixes:
            return file.parent
        if not fmt.folder and file.name.endswith(fmt.suffixes) and "-of-" not in file.name:
            return file
    return None


def _recognised(path: Path) -> Format | None:
    """The format of a checkpoint in a weights folder, if zoo can name its model: the first
    listable row that claims it, as `detect` tries the rows."""
    return next((fmt for fmt in LISTABLE if fmt.sniff(path)), None)


def _files(path: Path) -> list[Path]:
    """What a checkpoint occupies: a file; an index and its shards; a folder's files."""
    if path.is_dir():
        return [p for p in path.rglob("*") if p.is_file()]
    if path.name.endswith(INDEX_SUFFIX):
        shards = set(read_index(path)["weight_map"].values())
        return [path, *(path.parent / s for s in shards)]
    return [path]


def zoo_files() -> dict[str, list[LocalWeights]]:
    """Checkpoints in the weights folders, by the model name their metadata gives: every copy
    of a model, in path order. A file that cannot be read is skipped: one bad file must not hide
    the others."""
    found: dict[str, list[LocalWeights]] = {}
    for folder in zoo_weight_dirs():
        if not folder.is_dir():
            continue
        candidates = sorted(p for p in folder.rglob("*") if p.is_file())
        for path in filter(None, map(_checkpoint, candidates)):
            fmt = _recognised(path)
            if fmt is None:
                continue
            try:
                name = fmt.read_spec(path).name
                size = _size(_files(path))
            except (WeightsError, SpecError, OSError, ImportError):
                continue
            found.setdefault(name, []).append(LocalWeights(name, "zoo", path, size))
    return found


def declared(spec: ModelSpec) -> LocalWeights | None:
    """The checkpoint a spec says it was read from (`weights.local`), while it is there."""
    if not spec.weights.local:
        return None
    path = Path(spec.weights.local)
    if not path.exists():
        return None
    return LocalWeights(spec.name, "spec", path, _size(_files(path)))


def find_local(specs: list[ModelSpec]) -> list[LocalWeights]:
    """Every local copy of these models' weights, in the order a name is loaded from them: the
    checkpoint the spec names, the HF cache by repo id, then zoo files by name."""
    zoo_found = zoo_files()
    out = []
    for spec in specs:
        own = declared(spec)
        if own is not None:
            out.append(own)
        if spec.weights.hf:
            cached = in_hf_cache(spec.weights.hf)
            if cached is not None:
                out.append(LocalWeights(spec.name, cached.where, cached.path, cached.size))
        out.extend(zoo_found.get(spec.name, []))
    return out


def how_to_get(spec: ModelSpec) -> str:
    if not spec.weights.hf:
        return "no public weights"
    return (f"{DOWNLOAD_COMMAND} {spec.weights.hf} (where the hub is reachable), then "
            f"zoo.from_hf({spec.weights.hf!r}) or `zoo convert {spec.weights.hf} "
            f"{spec.name}.safetensors`")
