"""A set of safetensors files committed as one unit: a reader, or a crash at any moment, sees
the previous save whole or this one whole.

One file is renamed into place; shards are written under fresh names and committed by renaming
their index over the previous one. A journal lists what each save writes or supersedes, so the
next save finishes the clean-up of one that was killed; saves to one folder take turns (a lock).
Only `.safetensors` names inside the folder are ever removed. Every format that writes
safetensors (zoo's own, Hugging Face folders, fine-tuning runs) commits through here, and a
GGUF file is written whole and renamed into place (`write_gguf`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

from torch import Tensor

from zoo.files.errors import WeightsError, parse_json
from zoo.files.folder import replace_file, sync_folder
from zoo.files.gguf import DEFAULT_ALIGNMENT, TensorToWrite, encode
from zoo.files.progress import progress_bar
from zoo.files.safetensors import index_of, member, read_index
from zoo.files.safetensors_io import write_file, write_new


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
    """`target` as one file, or above `max_shard_size` as shards and an index (Hugging Face's
    layout), committed as one unit: a reader, or a crash at any moment, sees the previous save
    whole or this one whole.

    The commit is one atomic step. A sharded save writes its shards under names no earlier
    save used, syncs them, then renames its index over the previous one: that rename is the
    commit. A single file is renamed into place; where an index was the truth (readers trust
    an index over a single file, see `weights_file`), removing that index is the commit. Only
    after it are the previous save's files removed (its shards, its single file: names inside
    the folder only). A journal lists every file a save writes or supersedes, so the next save
    finishes the clean-up of one that was killed; saves to one folder take turns (a lock).
    Files get the umask's mode. A failure before the commit (a full disk) removes what this
    save wrote and raises an OSError saying the previous files are kept.
    """
    if max_shard_size < 1:
        raise ValueError(f"max_shard_size must be at least 1 byte, got {max_shard_size}")
    folder, index = target.parent, index_of(target)
    shards = _shard(tensors, max_shard_size)
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
    with _folder_lock(folder):
        _tidy(target)
        names = [target.name] if len(shards) == 1 else _fresh_names(target, len(shards))
        _write_journal(target, set(names) | (_current(target) or set()))
        written: list[Path] = []
        try:
            for name, shard in zip(names, progress_bar(shards, progress, "saving", nbytes=nbytes),
                                   strict=True):
                written.append(_temp(target) if len(shards) == 1 else folder / name)
                write_file(written[-1], shard, metadata)
            if len(shards) == 1:
                os.replace(written[0], target)
                if index.exists():  # the commit is the index's removal, after the rename
                    sync_folder(folder)
                    index.unlink()
            else:
                weight_map = {k: n for n, s in zip(names, shards, strict=True) for k in s}
                written.append(_temp(index))
                write_new(written[-1], json.dumps(
                    {"metadata": {**metadata, "total_size": nbytes}, "weight_map": weight_map},
                    indent=2, sort_keys=True).encode())
                sync_folder(folder)  # the shards' names are on disk before an index names them
                os.replace(written[-1], index)  # the commit
        except BaseException as err:
            with contextlib.suppress(OSError):
                for path in written:
                    path.unlink(missing_ok=True)
                _tidy(target)
            if isinstance(err, OSError):
                raise OSError(err.errno, f"saving to {folder} failed, previous files kept: "
                                         f"{err.strerror or err}") from err
            raise
        sync_folder(folder)
        _tidy(target)
    return [folder / n for n in names] + ([index] if len(shards) > 1 else [])


def _current(target: Path) -> set[str] | None:
    """The data files a reader of `target` loads now: the shards its index names, else the
    single file; None when an index is there but unreadable (then nothing is removed)."""
    index = index_of(target)
    if index.is_file():
        try:
            return set(read_index(index)["weight_map"].values())
        except (WeightsError, OSError):
            return None
    return {target.name} if target.is_file() else set()


def _journal(target: Path) -> Path:
    return target.with_name(f".{target.name}.journal.json")


def _write_journal(target: Path, names: set[str]) -> None:
    journal = _journal(target)
    temp = _temp(journal)
    write_new(temp, json.dumps({"files": sorted(names)}).encode())
    os.replace(temp, journal)


def _tidy(target: Path) -> None:
    """Finish what a save to `target` left: remove the files its journal lists that a reader
    does not load now (superseded, or written by a save that never committed), every temporary
    file, then the journal. Only .safetensors names inside the folder are ever removed."""
    folder, journal = target.parent, _journal(target)
    patterns = [f".{glob.escape(target.name)}.*.tmp",  # this version's temporary files
                f".{glob.escape(target.name.removesuffix('.safetensors'))}-*-of-*.tmp"]
    for pattern in patterns:
        for temp in folder.glob(pattern):
            temp.unlink(missing_ok=True)
    if not journal.is_file():
        return
    current = _current(target)
    if current is None:
        return
    try:
        listed = parse_json(journal.read_bytes(), str(journal))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        listed = []
    for name in listed if isinstance(listed, list) else []:
        if isinstance(name, str) and name.endswith(".safetensors") and name not in current:
            try:
                member(folder, name, str(journal)).unlink(missing_ok=True)
            except WeightsError:
                continue
    journal.unlink(missing_ok=True)


def _fresh_names(target: Path, count: int) -> list[str]:
    """Shard names (`<stem>-00001-of-0000N-<tag>.safetensors`) that no file in the folder has:
    a new set never overwrites a shard that a committed index, or a reader, still uses."""
    stem = target.name.removesuffix(".safetensors")
    while True:
        tag = secrets.token_hex(4)
        names = [f"{stem}-{i:05d}-of-{count:05d}-{tag}.safetensors" for i in range(1, count + 1)]
        if not any((target.parent / name).exists() for name in names):
            return names


def _temp(final: Path) -> Path:
    """A fresh hidden name beside `final` (`.model.safetensors...tmp`: `_tidy` knows them)."""
    return final.with_name(f".{final.name.lstrip('.')}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder (flock on its descriptor), so that two saves into it
    never clean up each other's files; none where flock does not exist or does not work."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: saves go unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_gguf(path: Path, fields: dict[str, object], tensors: Sequence[TensorToWrite], *,
               alignment: int = DEFAULT_ALIGNMENT, progress: bool | None = None) -> Path:
    """`path` as one GGUF file (`zoo.files.gguf.encode`), written whole into a new file beside
    it and renamed over it (`replace_file`: never through a link; a failure, Ctrl-C included,
    leaves `path` as it was and no temporary file)."""
    nbytes = sum(t.nbytes for t in tensors)
    return replace_file(path, encode(dict(fields), tensors, alignment, lambda ts: progress_bar(
        ts, progress, "writing GGUF", nbytes=nbytes, total=len(ts))))
