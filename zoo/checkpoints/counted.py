"""Whatever a user points at, counted: a registry name or a config by its spec, and anything
with weights also by its tensor headers (`zoo.accounting.headers`), which need no spec.

`count_target` is what `zoo show`, `compare` and `plan` resolve a name with: the spec where one
can be read (the format table's `read_spec`), the headers where the name points at weights (a
safetensors file, a sharded set's index, a folder, a GGUF file, a Hub repo's weights), and
when both are there, the check of one against the other. Weights whose architecture zoo does
not know are no longer refused: they are counted from their headers, and say so. No torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from zoo.accounting import count_params
from zoo.accounting.headers import (
    HeaderCheck,
    HeaderCount,
    HeadersRefused,
    TensorInfo,
    check_headers,
    count_headers,
)
from zoo.checkpoints.formats import (
    INDEX_SUFFIX,
    Resolved,
    detect,
    is_repo_ref,
    label,
    locate,
)
from zoo.files import NoSpecError, WeightsError
from zoo.files.errors import parse_json
from zoo.files.gguf import GGUFFile, is_gguf
from zoo.files.remote import MARKER
from zoo.files.safetensors import member, read_header, read_index, tensor_table
from zoo.registry import UnknownModelError, get_spec, slug
from zoo.spec import ModelSpec


def weight_files(path: Path) -> tuple[str, list[Path]] | None:
    """The weights a path points at, as ("safetensors" | "gguf", files); an index stands for
    its shards. A folder: its index or model.safetensors, else its one index or its
    .safetensors files, else its one GGUF file. None for a config or a folder without
    weights."""
    if path.is_dir():
        for name in (f"model{INDEX_SUFFIX}", "model.safetensors"):
            if (path / name).is_file():
                return weight_files(path / name)
        indexes = sorted(path.glob(f"*{INDEX_SUFFIX}"))
        if len(indexes) == 1:
            return weight_files(indexes[0])
        shards = sorted(path.glob("*.safetensors"))
        if shards:
            return "safetensors", shards
        ggufs = sorted(path.glob("*.gguf"))
        return ("gguf", ggufs) if len(ggufs) == 1 else None
    if path.name.endswith(INDEX_SUFFIX):
        return "safetensors", [path]
    if path.name.endswith(".safetensors"):
        index = path.with_name(path.name.removesuffix(".safetensors") + INDEX_SUFFIX)
        return "safetensors", [index if index.is_file() else path]
    if path.is_file() and (path.suffix == ".gguf" or is_gguf(path)):
        return "gguf", [path]
    return None


def read_tensors(kind: str, files: list[Path]) -> list[TensorInfo]:
    """Every tensor the files hold, from their headers alone: a sharded set's tensors are those
    its index maps, each from its shard; a name in two files is an error."""
    if kind == "gguf":
        gguf = GGUFFile(files[0])
        return [TensorInfo(name, t.shape, gguf.type_label(name), gguf.stored_bytes(name))
                for name, t in gguf.tensors.items()]
    found: dict[str, TensorInfo] = {}
    for file in files:
        if file.name.endswith(INDEX_SUFFIX):
            index = read_index(file)
            by_shard: dict[str, list[str]] = {}
            for name, shard in index["weight_map"].items():
                by_shard.setdefault(shard, []).append(name)
            for shard, names in sorted(by_shard.items()):
                path = member(file.parent, shard, f"{file}: 'weight_map'")
                table = {row[0]: row for row in _table(path)}
                for name in names:
                    if name not in table:
                        raise WeightsError(f"{file}: maps {name!r} to {shard}, whose header "
                                           f"has no such tensor")
                    _put(found, _info(table[name]), path)
        else:
            for row in _table(file):
                _put(found, _info(row), file)
    return list(found.values())


def _table(path: Path) -> list[tuple[str, str, tuple[int, ...], int]]:
    header, _, _ = read_header(path)
    return tensor_table(header, path)


def _info(row: tuple[str, str, tuple[int, ...], int]) -> TensorInfo:
    name, dtype, shape, nbytes = row
    return TensorInfo(name, shape, dtype, nbytes)


def _put(found: dict[str, TensorInfo], tensor: TensorInfo, where: Path) -> None:
    if tensor.name in found:
        raise WeightsError(f"{where}: tensor {tensor.name!r} is stored twice in this set")
    found[tensor.name] = tensor


def header_count(path: Path) -> HeaderCount | None:
    """The headers' count of the weights a path points at; None when it points at none.
    HeadersRefused when their element counts are not parameter counts."""
    found = weight_files(path)
    if found is None:
        return None
    kind, files = found
    tensors = read_tensors(kind, files)
    if files[0].name.endswith(INDEX_SUFFIX):
        files = sorted(set(read_index(files[0])["weight_map"].values()))  # type: ignore[misc]
    what = f"{kind} file{'s' if len(files) > 1 else ''}"
    return count_headers(tensors, f"{len(tensors):,} tensors in {len(files)} {what}")


@dataclass(frozen=True)
class Counted:
    """A name as far as zoo can count it: a spec (None when none can be read: `why_no_spec`
    says why), the tensor headers (None when the name points at no weights, or
    `headers_refused` says why they cannot be counted), and where a Hub repo came from."""

    requested: str
    resolved: Resolved | None
    headers: HeaderCount | None = None
    format: str | None = None
    why_no_spec: str | None = None
    headers_refused: str | None = None
    hub: dict[str, Any] | None = None  # a Hub repo read from zoo's cache: its record

    @property
    def spec(self) -> ModelSpec | None:
        return None if self.resolved is None else self.resolved.spec

    @property
    def name(self) -> str:
        if self.spec is not None:
            return self.spec.name
        return slug(label(Path(self.requested)), "model")

    @cached_property
    def check(self) -> HeaderCheck | None:
        """The headers' total against the spec's closed form, when both are known."""
        if self.spec is None or self.headers is None:
            return None
        return check_headers(self.headers, count_params(self.spec))

    @property
    def what(self) -> str:
        """How the figures were reached, in a few words."""
        if self.spec is None:
            return f"counted from the tensor headers ({self.why_no_spec})"
        if self.headers is None:
            return "counted by closed form"
        return "counted by closed form, and from the tensor headers"

    def describe(self) -> str:
        if self.resolved is not None:
            return self.resolved.describe()
        return f"{self.requested} ({self.format}) -> {self.what}"

    def to_dict(self) -> dict[str, Any]:
        out = self.resolved.to_dict() if self.resolved is not None else {
            "requested": self.requested, "name": self.name, "format": self.format,
            "in_registry": False}
        out["counted"] = self.what
        if self.why_no_spec is not None:
            out["why_no_spec"] = self.why_no_spec
        if self.hub is not None:
            out["hub"] = {k: self.hub.get(k) for k in ("repo", "endpoint", "commit")}
        return out

    def headers_dict(self) -> dict[str, Any] | None:
        """The JSON of the headers' count and its check against the closed form."""
        if self.headers is None:
            return None if self.headers_refused is None else {"refused": self.headers_refused}
        return {**self.headers.to_dict(),
                "comparison": None if self.check is None else self.check.to_dict()}


def count_target(name_or_path: str | os.PathLike[str]) -> Counted:
    """A registry name, a config, a checkpoint (any format zoo reads, and any safetensors or
    GGUF weights, whatever their architecture) or a Hub repo (org/name, or org/name/FILE.gguf),
    resolved to what can be counted. An unknown name is an UnknownModelError with the nearest
    names; weights with neither spec nor countable headers are the spec's error."""
    text = str(name_or_path)
    try:
        return Counted(text, Resolved(text, get_spec(text)))
    except UnknownModelError as unknown:
        path = locate(text, unknown)
    fmt = detect(path)
    try:
        resolved, no_spec = Resolved(text, fmt.read_spec(path), fmt.name), None
    except NoSpecError as err:
        resolved, no_spec = None, err
    weights = weight_files(path) if fmt.name in ("zoo", "hf", "gguf") else None
    headers, refused = None, None
    if weights is not None:
        try:
            headers = header_count(path)
        except HeadersRefused as err:
            refused = str(err)
    hub = _hub_record(path) if is_repo_ref(text) and not Path(text).exists() else None
    if no_spec is None:
        return Counted(text, resolved, headers, fmt.name, None, refused, hub)
    if headers is None:
        if refused is not None:
            raise WeightsError(f"{text}: {no_spec.reason}, and its tensor headers cannot be "
                               f"counted: {refused}")
        raise no_spec
    assert weights is not None
    return Counted(text, None, headers, weights[0], no_spec.reason, None, hub)


def _hub_record(path: Path) -> dict[str, Any] | None:
    """What zoo's Hub cache records of the repo a path was fetched into (None for the
    Hugging Face cache's snapshots, which were not fetched by zoo)."""
    for folder in (path, path.parent):
        marker = folder / MARKER
        if marker.is_file():
            try:
                record = parse_json(marker.read_bytes(), str(marker))
            except ValueError:
                return None
            return record if isinstance(record, dict) else None
    return None
