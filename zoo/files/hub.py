"""The Hugging Face hub, as zoo meets it: repo ids, the local cache (its documented layout:
`<cache>/models--<org>--<name>/snapshots/<revision>/`, found through HF_HUB_CACHE or HF_HOME
as the hub library finds it), and a checkpoint folder's config.json. No torch; huggingface_hub
only when a repo id must be resolved."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from zoo.files.errors import WeightsError, parse_json

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "org/name", as the hub spells them
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
# the hub's command line: `hf` since huggingface-hub 0.34 (the minimum zoo asks for);
# `huggingface-cli` is gone from 1.0 on
DOWNLOAD_COMMAND = "hf download"
HUB_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]


def resolve_folder(path_or_repo_id: str | os.PathLike[str], revision: str | None = None) -> Path:
    """A local folder as is; a repo id from the Hugging Face cache (downloading only when the
    hub is allowed and the files are not cached)."""
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    if path.exists():
        if (path.parent / "config.json").is_file():  # its config.json or weights: the folder
            return path.parent
        raise WeightsError(f"{path}: expected a Hugging Face checkpoint folder (config.json and "
                           f"weights), got a file with no config.json beside it")
    text = str(path_or_repo_id)
    if not REPO_ID.match(text):
        raise FileNotFoundError(f"{text}: no such folder, and not a Hugging Face repo id")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.constants import HF_HUB_CACHE, HF_HUB_OFFLINE
    except ImportError:
        raise FileNotFoundError(f"{text}: no such folder (huggingface_hub, needed to look in "
                                f"the Hugging Face cache, is not installed)") from None
    try:
        return Path(snapshot_download(text, revision=revision, local_files_only=True,
                                      allow_patterns=HUB_PATTERNS))
    except Exception as cached_error:  # hub errors vary by version
        where = f"the local Hugging Face cache ({HF_HUB_CACHE})"
        if HF_HUB_OFFLINE:
            raise FileNotFoundError(
                f"{text} is not in {where} and HF_HUB_OFFLINE is set: download it where the hub "
                f"is reachable (`{DOWNLOAD_COMMAND} {text}`) or pass a local folder "
                f"({type(cached_error).__name__})") from None
        try:
            return Path(snapshot_download(text, revision=revision, allow_patterns=HUB_PATTERNS))
        except Exception as err:  # its first line: the hub's advice runs on over several
            said = str(err).strip().splitlines()
            raise FileNotFoundError(f"{text} is not in {where}, and downloading it failed: "
                                    f"{type(err).__name__}: {said[0] if said else ''}") from None


def read_config(folder_or_file: Path) -> dict[str, Any]:
    """A checkpoint folder's config.json, or a config file given itself."""
    path = folder_or_file if folder_or_file.is_file() else folder_or_file / "config.json"
    if not path.is_file():
        raise WeightsError(f"{folder_or_file}: no config.json (not a Hugging Face checkpoint "
                           f"folder)")
    config = parse_json(path.read_bytes(), str(path))  # bounded depth, one error
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: expected a JSON object")
    return config


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home) / "hub"


def cached_snapshot(repo_id: str) -> tuple[Path, list[Path]] | None:
    """The newest cached snapshot of a repo that holds a config.json and weights, with its
    weight files; None when there is none. Read from the cache's layout, without the hub."""
    snapshots = hf_cache_dir() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    if not snapshots.is_dir():
        return None
    candidates = sorted((p for p in snapshots.iterdir() if p.is_dir()),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    for snapshot in candidates:
        files = [p for p in snapshot.rglob("*") if p.name.endswith(WEIGHT_SUFFIXES)]
        if files and (snapshot / "config.json").exists():
            return snapshot, files
    return None

