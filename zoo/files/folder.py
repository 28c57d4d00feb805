"""Folders zoo writes into without owning them whole.

A run folder (`zoo finetune --out`) is the model, its last checkpoint, and whatever the user
keeps beside it (notes, eval results). zoo touches only the files it wrote, listed in a
manifest (the state file's "files"); everything else stays across checkpoints. A checkpoint is
written into a staging folder inside the run folder (`.zoo-staging`, with a marker saying zoo
made it), then committed by a journal written last into it (`commit.json`: which files move in,
which of the previous ones go): a crash before the journal leaves the previous checkpoint, a
crash after it is finished by the next writer (roll forward). A staging folder without zoo's
marker is never deleted. One writer at a time holds the lock (`.zoo-lock`: flock, so that a
killed holder releases it, with its pid and host inside for the message). The run folder itself
is never replaced, so a symlink to it stays a symlink.

And one file written into any folder (`replace_file`): into a fresh temporary file beside it,
created exclusively, then renamed over the name. A symlink at the name (a Hugging Face cache
snapshot links every file to a shared blob) is replaced, never written through.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from zoo.files.errors import parse_json

LOCK = ".zoo-lock"
STAGING = ".zoo-staging"
MARKER = ".zoo-staging.json"  # inside the staging folder: zoo made it
JOURNAL = "commit.json"  # inside the staging folder: the commit, written last
STAGING_FORMAT = "zoo staging"


class FolderError(ValueError):
    """A folder zoo will not write into as asked (in use, holds what zoo did not write)."""


def replace_file(path: Path, data: bytes | Callable[[BinaryIO], None]) -> Path:
    """Write `data` as `path` without following a symlink: into a fresh hidden file beside it
    (`.<name>.<random>.tmp`, created exclusively, so a planted link is never opened), synced,
    then renamed over `path`; a link at `path` is replaced, its target left as it was. `data`
    may be a function that writes the file's bytes into the open file (a large file streamed
    in parts); if it fails, the temporary file is removed and `path` is left as it was."""
    temp = path.with_name(f".{path.name.lstrip('.')}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
        | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first (what mkdir(parents=True)
    would create)."""
    return [p for p in (folder, *folder.parents) if not os.path.lexists(p)]


def remove_empty(folders: Iterable[Path]) -> None:
    """Remove each folder if it is empty (deepest first): what a refused command made."""
    for made in folders:
        with contextlib.suppress(OSError):
            made.rmdir()


@contextlib.contextmanager
def created(folder: Path) -> Iterator[Path]:
    """`folder`, made with its missing parents; if the block fails, the folders made here are
    removed again (when still empty), so a refused command leaves nothing behind."""
    made = missing_folders(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        remove_empty(made)
        raise


class RunFolder:
    """A folder zoo writes checkpoints into and the user may keep files in (see the module's
    docstring). Open it with `RunFolder.open`, which takes the lock and finishes or discards
    what a killed writer left."""

    def __init__(self, path: Path, state_name: str, legacy: tuple[str, ...]) -> None:
        self.path = path
        self.state_name = state_name
        self.legacy = legacy  # zoo's files in a folder written before manifests
        self._lock_fd: int | None = None

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str | os.PathLike[str], state_name: str, *, what: str,
             legacy: tuple[str, ...] = ()) -> Iterator[RunFolder]:
        """The run folder at `path`, made if missing (with its parents; removed again if
        nothing is committed in it), locked for this writer until the block ends. A folder that
        holds files but no state file is refused (`what` names what it should be): zoo never
        writes its checkpoints among files it did not write."""
        path = Path(path)
        if path.is_symlink() and not path.exists():
            raise FolderError(f"{path} is a symlink to {os.readlink(path)}, which does not exist")
        if path.exists() and not path.is_dir():
            raise FolderError(f"{path} exists and is not a folder; choose another output folder")
        made = missing_folders(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path, state_name, legacy)
        try:
            run._lock()
            try:
                run._recover()
                if not run.state_path.is_file() and any(
                        p.name != LOCK for p in path.iterdir()):
                    raise FolderError(f"{path} exists and is not {what} (no {state_name}); "
                                      f"choose another output folder")
                yield run
            finally:
                run._unlock()
        finally:
            if not os.path.lexists(run.state_path):
                remove_empty(made)

    @property
    def state_path(self) -> Path:
        return self.path / self.state_name

    # --- the lock ----------------------------------------------------------------------------
    def _lock(self) -> None:
        """flock on `.zoo-lock`, which holds this process's pid and host. The kernel releases a
        flock when its holder dies (SIGKILL included), so a lock file left behind is simply
        taken over; a live holder is named in the refusal."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): writers go unlocked, as saves do
            return
        lock = self.path / LOCK
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise FolderError(f"{self.path} is in use by another zoo process ({holder}, "
                                  f"holding {lock}); wait for it to finish or stop it") from None
            except OSError:  # a file system without locks: writers go unlocked
                os.close(fd)
                return
            try:  # the holder before us may have removed the file between our open and flock
                same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            (self.path / LOCK).unlink()  # while still holding it: the next writer makes its own
        os.close(self._lock_fd)
        self._lock_fd = None

    # --- the committed state -----------------------------------------------------------------
    def state(self) -> Any:
        """The state file's JSON (None for a folder with no checkpoint yet); a file that is not
        JSON, or nests too deep, is a WeightsError naming it."""
        if not self.state_path.is_file():
            return None
        return parse_json(self.state_path.read_bytes(), str(self.state_path))

    def files(self) -> list[str]:
        """zoo's files in the folder now: the manifest, or for a folder written before
        manifests, the names zoo always wrote."""
        state = self.state()
        listed = state.get("files") if isinstance(state, dict) else None
        if listed is None:
            return [n for n in self.legacy if (self.path / n).is_file()]
        if not isinstance(listed, list):
            raise FolderError(f"{self.state_path}: files must be a list of file names")
        return [_plain(name, self.state_path) for name in listed]

    # --- a new checkpoint --------------------------------------------------------------------
    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh staging folder for the next checkpoint's files; `commit` makes them the
        folder's. If the block fails (an error, Ctrl-C) before the commit, the staging folder is
        removed; after it, the commit is finished."""
        stage = self.path / STAGING
        if os.path.lexists(stage):
            self._discard(stage)
        stage.mkdir()
        replace_file(stage / MARKER, json.dumps({"format": STAGING_FORMAT, "pid": os.getpid(),
                                                 "host": socket.gethostname()}).encode())
        try:
            yield stage
        except BaseException:
            with contextlib.suppress(OSError, FolderError):
                self._recover()
            raise

    def commit(self, stage: Path, state: dict[str, Any]) -> list[str]:
        """Make the staged files, and `state` (written as the state file, with the manifest
        under "files"), the folder's checkpoint in one commit: the journal's rename into the
        staging folder. Then move each file in (the state file last) and remove the previous
        checkpoint's files that the new one does not have; user files are not touched."""
        names = sorted(p.name for p in stage.iterdir() if p.name != MARKER)
        odd = [n for n in names if not (stage / n).is_file() or (stage / n).is_symlink()]
        if odd or self.state_name in names or JOURNAL in names:
            raise FolderError(f"{stage}: unexpected entries {odd or names}")
        files = [*names, self.state_name]
        replace_file(stage / self.state_name,
                     json.dumps({**state, "files": files}, indent=1).encode())
        journal = {"files": files, "remove": sorted(set(self.files()) - set(files))}
        sync_folder(stage)
        replace_file(stage / JOURNAL, json.dumps(journal).encode())  # the commit
        sync_folder(stage)
        self._recover()
        return files

    def _recover(self) -> None:
        """Finish what a writer left: a staging folder with its journal is moved in (the
        commit happened), one without is discarded (it never did)."""
        stage = self.path / STAGING
        if not os.path.lexists(stage):
            return
        self._check_ours(stage)
        journal = stage / JOURNAL
        if journal.is_file() and not journal.is_symlink():
            try:
                data = parse_json(journal.read_bytes(), str(journal))
                files = [_plain(n, journal) for n in data["files"]]
                remove = [_plain(n, journal) for n in data["remove"]]
            except (ValueError, KeyError, TypeError) as err:
                raise FolderError(f"{journal}: not a commit journal zoo wrote ({err}); zoo will "
                                  f"not apply it: move {stage} away") from None
            for name in sorted(files, key=lambda n: n == self.state_name):  # state file last
                if os.path.lexists(stage / name):
                    os.replace(stage / name, self.path / name)
            for name in remove:
                target = self.path / name
                if target.is_symlink() or target.is_file():
                    target.unlink()
            sync_folder(self.path)
        self._discard(stage)

    def _check_ours(self, stage: Path) -> None:
        """Refuse to delete or apply a staging folder that zoo did not make: a real folder
        (not a link) holding zoo's marker."""
        marker = stage / MARKER
        try:
            ours = (stage.is_dir() and not stage.is_symlink() and marker.is_file()
                    and not marker.is_symlink()
                    and parse_json(marker.read_bytes(), str(marker)).get("format")
                    == STAGING_FORMAT)
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise FolderError(f"{stage}: not a staging folder zoo wrote (no {MARKER} marker); "
                              f"zoo will not delete it: move it out of {self.path}")

    def _discard(self, stage: Path) -> None:
        self._check_ours(stage)
        shutil.rmtree(stage)  # links inside are removed, never followed


def _plain(name: Any, where: Path) -> str:
    """A file name read from a file: a plain name inside the folder, nothing else."""
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
            or "\\" in name or "\0" in name or name in (LOCK, STAGING)):
        raise FolderError(f"{where}: {name!r} is not a file name inside the folder")
    return name


def _holder(fd: int) -> str:
    """Who holds a lock, from what it wrote into the lock file."""
    try:
        data = parse_json(os.pread(fd, 4096, 0) or b"{}", "the lock file")
        return f"pid {int(data['pid'])} on {data['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not said who it is yet"


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that the renames in it survive a power cut."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder
    finally:
        os.close(fd)
