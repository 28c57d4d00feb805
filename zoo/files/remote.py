"""A Hub repo counted without its weights: its config.json and the headers of its safetensors
or GGUF files, fetched with huggingface_hub's own calls and kept in zoo's Hub cache, so that
`zoo show org/name` works offline once it has worked online.

What is fetched: the model info (its files and commit), config.json (`hf_hub_download`), the
safetensors headers (`get_safetensors_metadata`: a ranged read of each file's first bytes,
and the index), or a GGUF file's header by ranged reads of growing prefixes until it parses,
at most MAX_GGUF_HEADER bytes. Each is kept as a file its local reader reads: config.json,
the safetensors files cut to their headers (a header-only "stub", with the index of a
sharded set), the GGUF file cut after its tensor table. Nothing else is written, and the
stubs are never taken for weights: they live in zoo's cache, not in the Hugging Face cache.

The cache (ZOO_HUB_CACHE, else $XDG_CACHE_HOME/zoo/hub, else ~/.cache/zoo/hub) holds one
folder per repo, written into a temporary folder and renamed into place, so it is whole or
absent. A repo in it is read from it, online or not (delete its folder to fetch it again);
with HF_HUB_OFFLINE set nothing is fetched.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

from zoo.files.errors import WeightsError, parse_json
from zoo.files.gguf import GGUFFile, HeaderPrefixTooShort
from zoo.files.hub import hf_cache_dir
from zoo.files.safetensors import INDEX_SUFFIX, MAX_HEADER, member

MARKER = "zoo_hub.json"  # written last into a repo's folder: what was fetched, and from where
FIRST_PREFIX = 1 << 20  # bytes of a GGUF file read first; each further read is 4 times longer
MAX_GGUF_HEADER = 64 << 20  # a GGUF header zoo reads at most (a 262k vocabulary is ~8 MB)
SAFETENSORS_SINGLE, SAFETENSORS_INDEX = "model.safetensors", f"model{INDEX_SUFFIX}"


# the packages whose errors mean the Hub could not be reached or did not answer
TRANSPORTS = ("httpx", "httpx2", "requests", "urllib3", "huggingface_hub", "ssl", "socket")


class HubUnavailable(FileNotFoundError):
    """A repo that is not in the cache and cannot be fetched (offline, or unreachable)."""


def hub_cache() -> Path:
    if os.environ.get("ZOO_HUB_CACHE"):
        return Path(os.environ["ZOO_HUB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "zoo" / "hub"


def endpoint() -> str:
    """The Hub's address as huggingface_hub would use it (HF_ENDPOINT), read when called."""
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"].rstrip("/")
    try:
        from huggingface_hub import constants
    except ImportError:
        return "https://huggingface.co"
    return str(constants.ENDPOINT)


def offline() -> bool:
    return any(os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def repo_folder(repo_id: str) -> Path:
    return hub_cache() / f"models--{repo_id.replace('/', '--')}"


def cached(repo_id: str) -> tuple[Path, dict[str, Any]] | None:
    """A repo's folder in zoo's Hub cache and what its marker records; None if absent."""
    folder = repo_folder(repo_id)
    try:
        record = parse_json((folder / MARKER).read_bytes(), str(folder / MARKER))
    except (OSError, ValueError):
        return None
    return (folder, record) if isinstance(record, dict) else None


def fetch(repo_id: str, filename: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The repo's folder in zoo's Hub cache (config.json and weight headers), fetched first if
    it is not there; `filename` names one GGUF file of a repo that has several. The record
    says: repo, endpoint, commit, config (bool), weights (the files kept as headers), gguf
    (every GGUF file of the repo)."""
    found = cached(repo_id)
    if found is not None and (filename is None or filename in found[1].get("weights", [])):
        return found
    where = endpoint()
    if offline():
        raise HubUnavailable(f"{repo_id} is not in zoo's Hub cache ({hub_cache()}) and "
                             f"HF_HUB_OFFLINE is set: run this once where the Hub ({where}) is "
                             f"reachable")
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise HubUnavailable(f"{repo_id}: reading a Hub repo needs huggingface_hub: pip "
                             f"install 'zoo[torch]' (or huggingface_hub alone)") from None
    api = HfApi(endpoint=where)
    info = _hub_call(lambda: api.model_info(repo_id), repo_id, where)
    files = sorted(s.rfilename for s in info.siblings or ())
    record = {"repo": repo_id, "endpoint": where, "commit": info.sha,
              "config": "config.json" in files, "weights": [],
              "gguf": [f for f in files if f.endswith(".gguf")]}
    if found is not None:  # another GGUF file of a repo already here
        record = {**found[1], "weights": [*found[1].get("weights", [])]}
    root = hub_cache()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=root))
    try:
        if found is not None:
            for path in found[0].iterdir():
                if path.is_file():
                    shutil.copy2(path, work / path.name)
        elif record["config"]:
            _fetch_config(repo_id, record["commit"], where, work)
        if filename is None and (SAFETENSORS_SINGLE in files or SAFETENSORS_INDEX in files):
            record["weights"] = _fetch_safetensors(api, repo_id, record["commit"], where, work)
        elif filename is not None or len(record["gguf"]) == 1:  # the GGUF file named, or the one
            name = filename or record["gguf"][0]
            if name not in record["gguf"]:
                raise FileNotFoundError(f"{repo_id} has no GGUF file {name!r}; it has "
                                        f"{', '.join(record['gguf']) or 'none'}")
            _fetch_gguf(repo_id, name, record["commit"], where, work)
            record["weights"].append(name)
        (work / MARKER).write_text(json.dumps(record, indent=1))
        _commit(work, repo_folder(repo_id))
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    found = cached(repo_id)
    if found is None:
        raise WeightsError(f"{repo_folder(repo_id)}: could not be written")
    return found


def _commit(work: Path, folder: Path) -> None:
    """Put the fetched folder in place whole: renamed over an older one (a repo fetched again
    for another GGUF file), or given up if another process put one there first."""
    if folder.exists():
        old = folder.with_name(f".old-{folder.name}-{os.getpid()}")
        os.rename(folder, old)
        try:
            os.rename(work, folder)
        finally:
            shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(work, folder)
    except OSError:
        if not (folder / MARKER).is_file():
            raise


def _hub_call(call: Any, repo_id: str, where: str) -> Any:
    """A huggingface_hub call, its errors said in zoo's words: a repo that does not exist, a
    gated one, or a Hub that cannot be reached."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return call()
    except GatedRepoError:
        raise FileNotFoundError(f"{repo_id} is gated on the Hugging Face Hub ({where}): accept "
                                f"its terms and log in (`hf auth login`)") from None
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise FileNotFoundError(f"{repo_id}: no such file or folder here, and no such model "
                                f"repo on the Hugging Face Hub ({where}), or it is private") \
            from None
    except EntryNotFoundError as err:
        raise FileNotFoundError(f"{repo_id}: a file it lists is missing on the Hub ({where}): "
                                f"{err}") from None
    except Exception as err:
        transport = type(err).__module__.split(".")[0] in TRANSPORTS
        if isinstance(err, WeightsError) or not (transport or isinstance(err, OSError)):
            raise
        # connection, timeout, proxy, a server error: the transport's own classes
        raise HubUnavailable(f"cannot reach the Hugging Face Hub ({where}) and {repo_id} is "
                             f"not in the cache ({type(err).__name__}: {err})") from None


def _fetch_config(repo_id: str, commit: str, where: str, work: Path) -> None:
    from huggingface_hub import hf_hub_download

    path = Path(_hub_call(lambda: hf_hub_download(repo_id, "config.json", revision=commit,
                                                  endpoint=where, cache_dir=hf_cache_dir()),
                          repo_id, where))
    if path.stat().st_size > MAX_HEADER:
        raise WeightsError(f"{repo_id}: its config.json is {path.stat().st_size:,} bytes, "
                           f"more than a config can be")
    shutil.copyfile(path, work / "config.json")


def _fetch_safetensors(api: Any, repo_id: str, commit: str, where: str,
                       work: Path) -> list[str]:
    """Each safetensors file's header, written as a header-only file of the same name, and the
    index of a sharded set; the names written."""
    found = _hub_call(lambda: api.get_safetensors_metadata(repo_id, revision=commit), repo_id,
                      where)
    written = []
    for name, file in sorted(found.files_metadata.items()):
        header: dict[str, Any] = {
            tensor: {"dtype": info.dtype, "shape": list(info.shape),
                     "data_offsets": list(info.data_offsets)}
            for tensor, info in file.tensors.items()}
        if file.metadata:
            header["__metadata__"] = file.metadata
        raw = json.dumps(header).encode()
        target = member(work, name, f"{repo_id}: its index")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(struct.pack("<Q", len(raw)) + raw)
        written.append(name)
    if found.sharded:
        index = {"metadata": found.metadata or {}, "weight_map": found.weight_map}
        (work / SAFETENSORS_INDEX).write_text(json.dumps(index))
        written.append(SAFETENSORS_INDEX)
    return written


def _fetch_gguf(repo_id: str, name: str, commit: str, where: str, work: Path) -> None:
    """A GGUF file's header: ranged reads of growing prefixes until it parses; the prefix up to
    the end of the tensor table is kept."""
    from huggingface_hub import hf_hub_url

    url = hf_hub_url(repo_id, name, revision=commit, endpoint=where)
    length = FIRST_PREFIX
    while True:
        data, size = _hub_call(lambda n=length: _first_bytes(url, n), repo_id, where)
        try:
            file = GGUFFile.from_prefix(data, f"{repo_id}/{name}", size)
            break
        except HeaderPrefixTooShort as short:
            if len(data) >= size or length >= MAX_GGUF_HEADER:
                raise WeightsError(f"{repo_id}/{name}: its GGUF header is longer than "
                                   f"{MAX_GGUF_HEADER:,} bytes, more than zoo reads") from None
            length = min(max(short.needed, 4 * length), MAX_GGUF_HEADER)
    target = member(work, name, repo_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[:file.header_size])


def _first_bytes(url: str, length: int) -> tuple[bytes, int]:
    """The first `length` bytes of a file on the Hub (fewer if it is shorter) and its size,
    read by a Range request on huggingface_hub's own session, never more than asked."""
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    headers = {**build_hf_headers(), "Range": f"bytes=0-{length - 1}"}
    session = get_session()
    if hasattr(session, "stream"):  # httpx (huggingface_hub 1.0 on)
        with session.stream("GET", url, headers=headers, follow_redirects=True,
                            timeout=30) as response:
            if response.status_code >= 400:
                response.read()
            hf_raise_for_status(response)
            data = _bounded(response.iter_bytes(), length)
            response_headers = response.headers
    else:  # requests (before 1.0)
        response = session.get(url, headers=headers, stream=True, timeout=30)
        hf_raise_for_status(response)
        data = _bounded(response.iter_content(1 << 16), length)
        response.close()
        response_headers = response.headers
    total = response_headers.get("Content-Range", "").rpartition("/")[2]
    if total.isdigit():
        return data, int(total)
    if len(data) < length:  # the whole file came back (a server that ignores Range)
        return data, len(data)
    raise WeightsError(f"{url}: the server does not say the file's size (no Content-Range)")


def _bounded(chunks: Any, length: int) -> bytes:
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) >= length:
            break
    return bytes(data[:length])
