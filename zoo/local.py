"""Where a registry model's weights already are on this machine.

Two places are looked at, without importing torch or huggingface_hub: the Hugging Face hub
cache (its documented layout: `<cache>/models--<org>--<name>/snapshots/<revision>/`, found
through HF_HUB_CACHE or HF_HOME like the hub library finds it), and zoo weights folders
(ZOO_WEIGHTS, an os.pathsep-separated list, default ~/.cache/zoo/weights) holding files
saved by `zoo.save`, recognised by the spec in their metadata.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from zoo.safetensors_header import WeightsError, read_header
from zoo.spec import ModelSpec

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "org/name", as the hub spells them


@dataclass(frozen=True)
class LocalWeights:
    model: str
    where: str  # "hf-cache" or "zoo"
    path: Path
    size: int  # bytes on disk

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "where": self.where, "path": str(self.path),
                "size": self.size}


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home) / "hub"


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
    repo = hf_cache_dir() / f"models--{repo_id.replace('/', '--')}"
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    candidates = sorted((p for p in snapshots.iterdir() if p.is_dir()),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    for snapshot in candidates:
        files = [p for p in snapshot.rglob("*") if p.name.endswith(WEIGHT_SUFFIXES)]
        if files and (snapshot / "config.json").exists():
            return LocalWeights(repo_id, "hf-cache", snapshot, _size(files))
    return None


def zoo_files() -> dict[str, LocalWeights]:
    """Files saved by zoo in the weights folders, by the model name in their metadata."""
    found: dict[str, LocalWeights] = {}
    for folder in zoo_weight_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.safetensors")):
            if "-of-" in path.name:  # a shard: its index names the model
                continue
            name = _spec_name(path)
            if name:
                found.setdefault(name, LocalWeights(name, "zoo", path, _size([path])))
        for index in sorted(folder.rglob("*.safetensors.index.json")):
            try:
                data = json.loads(index.read_text())
                name = json.loads(data["metadata"]["zoo_spec"])["name"]
                shards = [index.parent / s for s in set(data["weight_map"].values())]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            found.setdefault(name, LocalWeights(name, "zoo", index, _size([index, *shards])))
    return found


def _spec_name(path: Path) -> str | None:
    try:
        header, _, _ = read_header(path)
        return json.loads(header.get("__metadata__", {}).get("zoo_spec", "null") or
                          "null").get("name")
    except (WeightsError, ValueError, AttributeError):
        return None


def find_local(specs: list[ModelSpec]) -> list[LocalWeights]:
    """Every local copy of these models' weights: the HF cache by repo id, zoo files by name."""
    zoo_found = zoo_files()
    out = []
    for spec in specs:
        if spec.weights.hf:
            cached = in_hf_cache(spec.weights.hf)
            if cached is not None:
                out.append(LocalWeights(spec.name, cached.where, cached.path, cached.size))
        if spec.name in zoo_found:
            out.append(zoo_found[spec.name])
    return out


def how_to_get(spec: ModelSpec) -> str:
    if not spec.weights.hf:
        return "no public weights"
    return (f"huggingface-cli download {spec.weights.hf} (where the hub is reachable), then "
            f"zoo.from_hf({spec.weights.hf!r}) or `zoo convert {spec.weights.hf} "
            f"{spec.name}.safetensors`")
