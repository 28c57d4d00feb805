"""zoo's own CPU kernels (native.cpp), built on the machine that runs them.

torch's kernels for a few rows stream small weight matrices at a third to a half of a CPU's
read bandwidth (oneDNN's fp32 matrix-vector kernel: 9-14 GB/s on SmolLM2's matrices on an AMD
EPYC whose limit is about 30), and its only int8 and int4 kernels for one row are bound by
their arithmetic. Decoding is that streaming. native.cpp holds matrix-vector kernels written
for it (fp32 and bf16 weights, int8 codes with a scale per row, 4-bit codes with a scale and
zero per group of 32), which read each weight once for up to four rows of activations; they
are candidates beside torch's (zoo.model.kernels measures which is fastest on the machine, so
a CPU where they lose keeps torch's), and results differ from torch's only by the order of
fp32 additions (zoo.model.kernels.tolerance). It also holds one-call forms for fp32
decoding: an RMSNorm, an attention layer's whole step (zoo.model.layers.RMSNorm,
zoo.model.attention.Attention), which replace a dozen small torch calls each, and a block's
whole step (zoo.model.decoder.Block: its norms, the attention step, the MLP, the residual
sums, each projection on the kernel measured for it), which replaces about 29.

The source is compiled the first time a kernel is wanted, with the C++ compiler named by $CXX
(else c++, g++), `-march=native` and torch's own headers and libraries, into
`$XDG_CACHE_HOME/zoo/native/` (else ~/.cache/zoo/native/, or the folder $ZOO_NATIVE_CACHE
names), one file per source, flags, torch, compiler and CPU, which later processes load
(about 7 s once; torch.ops.zoo then). A build that fails leaves a `.failed` file with the
compiler's message beside it, so that it is not tried again until that file is deleted.
A new build deletes the earlier ones (and failures) that no process loaded for 30 days.
Without AVX-512 (F, BW, BF16), a compiler or Linux, nothing is built, and everything runs on
torch's kernels, as before. `ZOO_NATIVE=0` (or off/false/no) never builds nor loads it. Two
processes building at once take turns (a lock file beside it); the library is written beside
its final name and renamed into place.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from zoo.files.folder import replace_file

SOURCE = Path(__file__).with_name("native.cpp")
REQUIRES = ("avx512f", "avx512bw", "avx512_bf16")  # the CPU flags native.cpp compiles for
TIMEOUT = 300  # seconds a build may take
UNUSED_DAYS = 30  # a build no process loaded for this long is deleted at the next build
# the MLP activations native.cpp's block step has (`activate` there; zoo.model.layers.activate)
ACTIVATIONS = ("swiglu", "geglu", "gelu", "gelu_tanh", "silu", "relu")
_state: list[str] = []  # what happened: "built ..." or "not built: ..." (once per process)


def wanted() -> bool:
    return os.environ.get("ZOO_NATIVE", "1").strip().lower() not in ("0", "off", "false", "no")


def cache_dir() -> Path:
    """Where builds go: $ZOO_NATIVE_CACHE, else $XDG_CACHE_HOME/zoo/native (~/.cache)."""
    explicit = os.environ.get("ZOO_NATIVE_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zoo" / "native"


def cpuinfo() -> tuple[str, str]:
    """The CPU's model name and its flags, sorted, space-separated (Linux's /proc/cpuinfo;
    elsewhere what platform says): what a build and a kernel choice depend on."""
    name, flags = "", ""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        field, _, value = line.partition(":")
        if field.strip() == "model name" and not name:
            name = value.strip()
        elif field.strip() in ("flags", "Features") and not flags:
            flags = " ".join(sorted(value.split()))
    return name or platform.processor() or platform.machine(), flags


def _compiler() -> tuple[str, str] | None:
    """The C++ compiler ($CXX, else c++ or g++) and its version line."""
    for name in [os.environ.get("CXX", ""), "c++", "g++"]:
        path = shutil.which(name) if name else None
        if path is None:
            continue
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True,
                                 timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0:
            return path, (out.stdout.splitlines() or [""])[0]
    return None


# -ffp-contract=off: the kernels' fused multiply-adds are written out, and nothing else may
# become one (the rotary's products and sum are rounded as torch rounds them)
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-std=c++20", "-shared", "-fPIC",
         "-fopenmp")


def _command(compiler: str, source: Path, out: Path) -> list[str]:
    from torch.utils import cpp_extension  # torch's own include and library folders

    abi = int(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True))
    libs = cpp_extension.library_paths()
    return [compiler, *FLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
            *(f"-I{p}" for p in cpp_extension.include_paths()), str(source), "-o", str(out),
            *(f"-L{p}" for p in libs), *(f"-Wl,-rpath,{p}" for p in libs),
            "-lc10", "-ltorch_cpu"]


def _build() -> tuple[Path | None, str]:
    """The built library (built now if needed), or None and why not."""
    if sys.platform != "linux":
        return None, "zoo's CPU kernels are built on Linux only"
    import fcntl  # Linux's file locks
    flags = cpuinfo()[1]
    missing = [flag for flag in REQUIRES if flag not in flags.split()]
    if missing:
        return None, f"this CPU lacks {', '.join(missing)}"
    compiler = _compiler()
    if compiler is None:
        return None, "no C++ compiler ($CXX, c++ or g++)"
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(b"\0".join([
        source, " ".join(FLAGS).encode(), torch.__version__.encode(), compiler[1].encode(),
        flags.encode()])).hexdigest()[:16]
    folder = cache_dir()
    library, failed = folder / f"zoo-{digest}.so", folder / f"zoo-{digest}.failed"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # the lock file is opened without following a link planted in its place
        lock_fd = os.open(folder / ".build.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with os.fdopen(lock_fd, "r+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait
            if library.is_file():
                # its time is when it was last used (_prune keeps it); a folder this user
                # may read but not write keeps the time it has
                with contextlib.suppress(OSError):
                    os.utime(library, follow_symlinks=False)
                return library, f"built ({library})"
            if failed.is_file():
                return None, f"its build failed before: see {failed}"
            print(f"zoo: building its CPU kernels for this machine, once ({compiler[1]})",
                  file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as scratch:
                out = Path(scratch) / "library.so"
                try:
                    done = subprocess.run(_command(compiler[0], SOURCE, out),
                                          capture_output=True, text=True, timeout=TIMEOUT)
                    message = done.stderr
                except subprocess.TimeoutExpired:
                    done, message = None, f"the compiler ran past {TIMEOUT} s"
                if done is None or done.returncode != 0 or not out.is_file():
                    replace_file(failed, message.encode())
                    return None, f"its build failed: see {failed}"
                replace_file(library, out.read_bytes())
            _prune(folder, library)
            return library, f"built ({library})"
    except OSError as e:
        return None, f"cannot build in {folder}: {e.strerror or e}"


def _prune(folder: Path, keep: Path) -> None:
    """Delete the builds in `folder` (zoo's own: zoo-<digest>.so and .failed, plain files)
    that no process loaded for `UNUSED_DAYS`, but `keep`: each source, torch, compiler and
    CPU leaves its own, and a build in use is touched at each load."""
    old = time.time() - UNUSED_DAYS * 86400
    for path in folder.iterdir():
        if path == keep or not re.fullmatch(r"zoo-[0-9a-f]{16}\.(so|failed)", path.name):
            continue
        try:
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_mtime < old:
                path.unlink()
        except OSError:
            continue  # gone already, or not ours to delete


@functools.cache
def _load() -> tuple[Any | None, str, str | None]:
    """(torch.ops.zoo or None, what happened, the loaded library's name or None)."""
    if not wanted():
        return None, "ZOO_NATIVE is off", None
    library, why = _build()
    if library is None:
        return None, why, None
    try:
        torch.ops.load_library(str(library))
    except (OSError, RuntimeError) as e:
        return None, f"{library} does not load: {str(e).splitlines()[0]}", None
    return torch.ops.zoo, why, library.stem


def ops() -> Any | None:
    """torch.ops.zoo with native.cpp's kernels, built and loaded at the first call; None where
    they cannot be (`state` says why)."""
    library, why, _ = _load()
    if not _state:
        _state.append(why if library is not None else f"not built: {why}")
    return library


def build() -> str | None:
    """Which build of native.cpp this process loaded (zoo-<digest>), or None: a kernel choice
    measured on another build is measured again (zoo.model.kernels)."""
    return _load()[2]


def state() -> str:
    """What became of zoo's kernels in this process: "built (path)", "not built: why", or
    "not needed" (nothing asked for them)."""
    return _state[0] if _state else "not needed"


__all__ = ["ACTIVATIONS", "REQUIRES", "SOURCE", "build", "cache_dir", "cpuinfo", "ops", "state",
           "wanted"]
