"""Every weights format zoo knows, as a table: how to recognise a path, how its files are named,
how to read its spec without loading anything, how to load it, how to save to it, and whether
`zoo list --local` looks for it.

`zoo.load`, `zoo convert`, `zoo list --local` and `zoo show FILE` all go through this table, so
a new format is its module plus its row here. Recognising a path and reading its spec never
import torch.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.architectures import (
    UnsupportedConfigError,
    entry_for,
    gguf_layout,
    spec_for_config,
    spec_from_gguf,
)
from zoo.checkpoints.metadata import SPEC_FILE, is_zoo_file, read_checkpoint_spec, read_zoo_spec
from zoo.files import NoSpecError, WeightsError
from zoo.files.gguf import GGUFFile, check_writable, is_gguf
from zoo.files.hub import REPO_ID, cached_snapshot, read_config, resolve_folder
from zoo.files.remote import fetch
from zoo.files.safetensors import INDEX_SUFFIX, safetensors_target
from zoo.registry import UnknownModelError, get_spec, registry_match
from zoo.spec import ModelSpec, SpecError
from zoo.units import check_quantization, parse_bytes

if TYPE_CHECKING:
    from zoo.model import Model

ZOO_SUFFIXES = (".safetensors", INDEX_SUFFIX)
GGUF_SUFFIXES = (".gguf",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
DCP_MARKER = ".metadata"  # the file torch writes into every distributed checkpoint


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    sniff: Callable[[Path], bool]  # is this path in the format? (no torch)
    read_spec: Callable[[Path], ModelSpec]  # its spec, from metadata only (no torch)
    # the loading and saving functions, imported when asked for (they need torch)
    loader: Callable[[], Callable[..., Model]]
    saver: Callable[[], Callable[..., list[Path]]] | None = None
    # how its checkpoints are named on disk: the endings of a file's name, or, for a format
    # stored as a folder (`folder`), the name of the file that marks the folder
    suffixes: tuple[str, ...] = ()
    folder: bool = False
    # whether `zoo list --local` looks for it in the weights folders: its spec (from metadata)
    # names the model, so a file found there can be listed under that model
    listable: bool = False


# --- zoo's own safetensors --------------------------------------------------------------------

def _is_safetensors(path: Path) -> bool:
    """zoo's own: a file (or index, or folder) with zoo's spec in its metadata, or any
    safetensors without a config.json beside it (whose error then says what it lacks)."""
    if path.is_dir():
        return not (path / "config.json").is_file() or is_zoo_file(path)
    if not path.name.endswith(ZOO_SUFFIXES):
        return False
    return is_zoo_file(path) or not (path.parent / "config.json").is_file()


def _zoo_loader() -> Callable[..., Model]:
    from zoo.checkpoints.native import load

    return load


def _zoo_saver() -> Callable[..., list[Path]]:
    from zoo.checkpoints.native import save

    return save


# --- Hugging Face folders and cached repos ----------------------------------------------------

def _is_hf(path: Path) -> bool:
    """A folder with config.json, a config.json itself (any *.json but an index), a weights
    file in such a folder (zoo's own files were claimed first), or a repo id not on disk."""
    if path.is_dir():
        return (path / "config.json").is_file()
    if path.is_file():
        if path.suffix == ".json" and not path.name.endswith(INDEX_SUFFIX):
            return True
        return path.name.endswith((".safetensors", INDEX_SUFFIX)) and \
            (path.parent / "config.json").is_file()
    return bool(REPO_ID.match(str(path))) and not str(path).endswith(FILE_SUFFIXES)


def _hf_spec(path: Path) -> ModelSpec:
    config_file = _config_file(path)
    config = read_config(config_file)
    try:
        entry_for(config)
    except UnsupportedConfigError as err:
        raise NoSpecError(f"{config_file}: {err}", f"architecture not recognised: "
                          f"{config.get('model_type', 'no model_type')}") from None
    try:
        return spec_for_config(config, label(path))
    except (UnsupportedConfigError, SpecError) as err:
        raise NoSpecError(f"{config_file}: {err}", f"config not counted: {err}") from None


def _config_file(path: Path) -> Path:
    if path.is_file():
        return path if path.suffix == ".json" and not path.name.endswith(INDEX_SUFFIX) else \
            path.parent / "config.json"
    return (resolve_folder(path) if path.exists() else _cached(path)) / "config.json"


# file names that say nothing of the model (Hugging Face's own), so its folder names it
GENERIC_NAMES = re.compile(r"^(config|model|pytorch_model)(-\d+-of-\d+)?$")
SUFFIXES = (INDEX_SUFFIX, ".safetensors", ".gguf", ".json")


def label(path: Path) -> str:
    """What a checkpoint is called when its metadata does not say: a repo id's name; a
    folder's name, also for the files in it that HF names generically (config.json,
    model.safetensors); else the file's name without its suffix."""
    if not path.exists():
        return str(path).rstrip("/").split("/")[-1]
    hub = _hub_name(path if path.is_dir() else path.parent)
    if hub is not None and (path.is_dir() or GENERIC_NAMES.match(path.name.split(".")[0])):
        return hub
    stem = next((path.name.removesuffix(s) for s in SUFFIXES if path.name.endswith(s)),
                path.name)
    if path.is_dir() or GENERIC_NAMES.match(stem):
        return (path if path.is_dir() else path.parent).resolve().name
    return stem


def _hub_name(folder: Path) -> str | None:
    """A repo's name for a folder of the Hugging Face cache (models--org--name/snapshots/
    <commit>) or of zoo's Hub cache (models--org--name): org names hold no '--'."""
    for part in (folder, folder.parent.parent):
        if part.name.startswith("models--") and part.name.count("--") >= 2:
            return part.name.split("--", 2)[2]
    return None


def _cached(repo_id: Path) -> Path:
    """A repo's folder: its snapshot in the Hugging Face cache when the weights are there, else
    its config and weight headers in zoo's Hub cache (fetched from the Hub if need be)."""
    found = cached_snapshot(str(repo_id))
    return found[0] if found is not None else fetch(str(repo_id))[0]


# a GGUF file of a Hub repo: org/name/path/to/file.gguf
REPO_FILE = re.compile(r"^([A-Za-z0-9][\w.-]*/[\w.-]+)/([\w./-]+\.gguf)$")


def is_repo_ref(text: str) -> bool:
    """Whether a name that is not on disk names a Hub repo (org/name) or a GGUF file in one."""
    return bool(REPO_FILE.match(text)) or (bool(REPO_ID.match(text))
                                           and not text.endswith(FILE_SUFFIXES))


def local_path(text: str) -> Path:
    """What a Hub reference stands for on this machine: a repo's folder (the Hugging Face
    cache's snapshot, else zoo's Hub cache, fetched if need be), or the one GGUF file of a
    repo that has only GGUF weights, or the GGUF file named."""
    named = REPO_FILE.match(text)
    if named:
        folder, _ = fetch(named.group(1), named.group(2))
        return folder / named.group(2)
    found = cached_snapshot(text)
    if found is not None:
        return found[0]
    folder, record = fetch(text)
    if record.get("config") or any(not w.endswith(".gguf") for w in record["weights"]):
        return folder
    if record["weights"]:
        return folder / record["weights"][0]
    if record.get("gguf"):
        raise FileNotFoundError(f"{text} has {len(record['gguf'])} GGUF files and no "
                                f"config.json: name one, e.g. {text}/{record['gguf'][0]} ("
                                f"{', '.join(record['gguf'])})")
    raise FileNotFoundError(f"{text}: the repo has no config.json, safetensors or GGUF file")


def _hf_loader() -> Callable[..., Model]:
    from zoo.checkpoints.hf import from_hf

    return from_hf


def _hf_saver() -> Callable[..., list[Path]]:
    from zoo.checkpoints.hf import to_hf

    return to_hf


# --- GGUF -------------------------------------------------------------------------------------

def _is_gguf(path: Path) -> bool:
    return path.is_file() and (path.suffix in GGUF_SUFFIXES or is_gguf(path))


def _gguf_spec(path: Path) -> ModelSpec:
    file = GGUFFile(path)
    try:
        gguf_layout(file.fields)
    except UnsupportedConfigError as err:
        arch = file.fields.get("general.architecture", "none stated")
        raise NoSpecError(f"{path}: {err}", f"architecture not recognised: {arch}") from None
    try:
        return spec_from_gguf(file.fields, file.tensors, path.stem)
    except UnsupportedConfigError as err:
        raise NoSpecError(f"{path}: {err}", f"metadata not counted: {err}") from None


def _gguf_loader() -> Callable[..., Model]:
    from zoo.checkpoints.gguf import from_gguf

    return from_gguf


def _gguf_saver() -> Callable[..., list[Path]]:
    from zoo.checkpoints.gguf import to_gguf

    return to_gguf


# --- distributed checkpoints ------------------------------------------------------------------

def _is_dcp(path: Path) -> bool:
    return path.is_dir() and (path / DCP_MARKER).is_file() and (path / SPEC_FILE).is_file()


def _dcp_loader() -> Callable[..., Model]:
    from zoo.checkpoints.dcp import load_checkpoint_model

    return load_checkpoint_model


def _dcp_saver() -> Callable[..., list[Path]]:
    from zoo.checkpoints.dcp import save_checkpoint

    return save_checkpoint


# --- pickles: known, and refused --------------------------------------------------------------

def _is_pickle(path: Path) -> bool:
    return path.suffix in PICKLE_SUFFIXES and not path.is_dir()


def _refuse_pickle(path: Path) -> Model:
    raise WeightsError(
        f"{path}: zoo does not load pickled checkpoints as zoo files. A Hugging Face folder with "
        f"pytorch_model.bin is read by zoo.from_hf (with torch.load(weights_only=True), which "
        f"refuses arbitrary objects); otherwise convert it to safetensors in an environment you "
        f"trust, e.g. transformers' save_pretrained(folder, safe_serialization=True), then "
        f"`zoo convert folder out.safetensors`.")


# in the order a path is tried: the first row whose sniff claims it is its format
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("gguf", "a GGUF file (llama.cpp), dequantized on load; written in F32, F16, BF16, "
                   "Q8_0, Q4_0 or Q4_1", _is_gguf, _gguf_spec, _gguf_loader, _gguf_saver,
           suffixes=GGUF_SUFFIXES, listable=True),
    Format("pickle", "a pickled PyTorch checkpoint (refused: it can run code)", _is_pickle,
           _refuse_pickle, lambda: _refuse_pickle, suffixes=PICKLE_SUFFIXES),
    Format("dcp", "a distributed checkpoint (torch.distributed.checkpoint) with zoo's spec",
           _is_dcp, read_checkpoint_spec, _dcp_loader, _dcp_saver, suffixes=(DCP_MARKER,),
           folder=True, listable=True),
    Format("zoo", "zoo's safetensors: one file, or shards and an index, the spec in the "
                  "metadata", _is_safetensors, lambda path: read_zoo_spec(path)[0], _zoo_loader,
           _zoo_saver, suffixes=ZOO_SUFFIXES, listable=True),
    Format("hf", "a Hugging Face checkpoint folder, or a repo id in the local cache", _is_hf,
           _hf_spec, _hf_loader, _hf_saver, suffixes=("config.json",), folder=True),
)}
SAVABLE = tuple(name for name, f in FORMATS.items() if f.saver is not None)


def detect(path: str | os.PathLike[str]) -> Format:
    """The format of a path; FileNotFoundError or WeightsError (listing the formats) if none."""
    path = Path(path)
    for fmt in FORMATS.values():
        if fmt.sniff(path):
            return fmt
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    raise WeightsError(f"{path}: not a weights format zoo reads; it reads "
                       + "; ".join(f.description for f in FORMATS.values()))


def read_spec(path: str | os.PathLike[str]) -> ModelSpec:
    """A checkpoint's spec from its metadata alone: no torch, no tensors read."""
    return detect(path).read_spec(Path(path))


@dataclass(frozen=True)
class Resolved:
    """What a name on the command line was taken to be: a registry model, or a file's spec
    (the registry's entry when the file's architecture is exactly one of them)."""

    requested: str
    spec: ModelSpec
    format: str | None = None  # None: a registry name

    @property
    def from_registry(self) -> bool:
        """Whether the spec is the registry's (its provenance and reported figures apply)."""
        return self.format is None or registry_match(self.spec) == self.spec

    def describe(self) -> str:
        """'gpt2' or 'path/config.json (hf) -> gpt2, the registry's model of this
        architecture'."""
        if self.format is None:
            return self.spec.name if self.requested.lower() == self.spec.name else \
                f"{self.requested} -> {self.spec.name}"
        what = ("the registry's model of this exact architecture" if self.from_registry else
                "read from its metadata (not in the registry)")
        return f"{self.requested} ({self.format}) -> {self.spec.name}, {what}"

    def to_dict(self) -> dict[str, Any]:
        return {"requested": self.requested, "name": self.spec.name, "format": self.format,
                "in_registry": self.from_registry}


FILE_SUFFIXES = (".json", ".gguf", ".safetensors")  # a missing file says "no such file"


def resolve(name_or_path: str | os.PathLike[str]) -> Resolved:
    """A registry name or alias, else a checkpoint or config zoo reads a spec from (config.json,
    a Hugging Face folder or cached repo id, GGUF, zoo or HF safetensors, a distributed
    checkpoint): metadata and headers only, no torch. A name that is neither is an
    UnknownModelError with the nearest names."""
    text = str(name_or_path)
    try:
        return Resolved(text, get_spec(text))
    except UnknownModelError as unknown:
        path = locate(text, unknown)
    fmt = detect(path)
    return Resolved(text, fmt.read_spec(path), fmt.name)


def locate(text: str, unknown: UnknownModelError) -> Path:
    """The path a name that is not a registry name stands for: a file or folder as it is, a Hub
    reference as `local_path` finds it. A name that looks like neither is `unknown` (the
    registry's error, with the nearest names)."""
    path = Path(text)
    if path.exists():
        return path
    if not ("/" in text or os.sep in text or path.suffix in FILE_SUFFIXES):
        raise unknown
    return local_path(text) if is_repo_ref(text) else path


def load(path: str | os.PathLike[str], *, spec: ModelSpec | str | None = None,
         quantize: str | None = None, **options: Any) -> Model:
    """A model from any format zoo reads: a zoo safetensors file, folder or sharded set, a
    Hugging Face folder or cached repo id, a GGUF file, a distributed checkpoint.

    The options are those of the format's loader (`zoo.checkpoints.native.load`, `zoo.from_hf`,
    `zoo.from_gguf`): device, dtype, strict, progress, and for zoo files spec,
    ignore_memory_limit, device_map, max_memory, offload_folder. An option the format does not
    take is an error that says which it takes. `quantize` ('bf16', 'int8' or 'int4') packs the
    linear layers for CPU inference (`zoo.quantize`): a loader that takes it packs each layer
    as it reads it (GGUF, keeping the file's own 4-bit blocks, Hugging Face, zoo's files); the
    others' models are packed once loaded.
    """
    fmt = detect(path)
    if spec is not None:
        options["spec"] = get_spec(spec)
    load_fn = fmt.loader()
    after = None  # the packing to apply after the load, when the loader does not
    if quantize is not None:
        check_quantization(quantize)  # before the load, not after it
        if "quantize" in inspect.signature(load_fn).parameters:
            options["quantize"] = quantize
        else:
            after = quantize
    _check_options(fmt, load_fn, options)
    model = load_fn(path if Path(path).exists() else str(path), **options)
    if after is None:
        return model
    from zoo.model.quantize import quantize as pack

    return pack(model, after)


def save(model: Model, path: str | os.PathLike[str], *, format: str = "zoo",
         **options: Any) -> list[Path]:
    """Write `model` in a format zoo writes (zoo, hf, dcp, gguf); returns the files written."""
    check_save(path, format, options)
    saver = FORMATS[format].saver
    assert saver is not None  # check_save refused any other format
    return saver()(model, path, **options)


def check_save(path: str | os.PathLike[str], format: str, options: dict[str, Any]) -> None:
    """What `save` would refuse, found before a model is loaded (no torch): the format, its
    options, `max_shard_size`, and the destination (a folder, or a .safetensors file for zoo's
    format, whose nearest existing parent is a folder zoo may write in)."""
    fmt = FORMATS.get(format)
    if fmt is None or fmt.saver is None:
        raise ValueError(f"unknown format {format!r}; zoo writes {', '.join(SAVABLE)}")
    _check_options(fmt, fmt.saver(), options)
    if "max_shard_size" in options and parse_bytes(options["max_shard_size"]) < 1:
        raise ValueError(f"max_shard_size must be at least 1 byte, got "
                         f"{options['max_shard_size']!r}")
    if options.get("tensor_type") is not None:
        check_writable(options["tensor_type"])
    path = Path(path)
    named = next((f for f in FORMATS.values() if not f.folder and f.name != fmt.name
                  and path.name.endswith(f.suffixes) and f.suffixes), None)
    if fmt.folder and named is not None and not path.is_dir():
        raise ValueError(f"{path}: {fmt.name} checkpoints are saved into a folder, and this "
                         f"name reads as a {named.name} file; give a folder (or save in the "
                         f"{named.name} format)")
    # a format of one file (zoo's own may be shards): named as its files are
    if not fmt.folder and fmt.name != "zoo" and (not path.name.endswith(fmt.suffixes)
                                                 or path.is_dir()):
        raise ValueError(f"{path}: {fmt.name} checkpoints are one file named "
                         f"*{fmt.suffixes[0]}")
    folder = path if fmt.folder else (safetensors_target(path) if fmt.name == "zoo"
                                      else path).parent
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: is a file; {fmt.name} checkpoints are saved "
                         f"{'as .safetensors or ' if fmt.name == 'zoo' else ''}into a folder")
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{folder}: cannot be created, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder}: cannot write in {existing}")


def _check_options(fmt: Format, fn: Callable[..., Any], options: dict[str, Any]) -> None:
    """Every option must be one the format's own function takes (keyword-only)."""
    params = inspect.signature(fn).parameters
    takes = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY]
    unknown = [name for name in options if name not in takes]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not an option for {fmt.name} checkpoints "
                         f"({fmt.description}); they take {', '.join(takes) or 'none'}")
