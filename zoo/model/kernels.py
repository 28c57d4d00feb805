"""Kernel choices measured on the machine that runs them, cached on disk.

Which CPU kernel multiplies fastest by a layer's weight depends on the CPU, not on the model:
on one AMD EPYC (AVX-512) oneDNN's matrix-vector kernel over nn.Linear's [out, in] layout
decodes 1.8x faster than torch's default, while on an Intel Xeon (Sapphire Rapids) the same
kernel loses to addmm over the transposed [in, out] layout (issue 25). So the choice is
measured, the way FBGEMM and oneDNN's own primitive caches do it: the first time a layer of
some (shape, dtype, packing, rows) is run, the candidate kernels run in turns, the fastest (by
its fastest run: load only adds time) whose result equals the reference within rounding is
kept, and the choice is written to a small JSON file keyed by the CPU (model name and a hash
of its flags), the torch version and the thread count, with the candidates it was measured
among (and the build of zoo's own kernels, zoo.model.native, among them). Later loads read it
and measure nothing, unless their candidates differ (zoo's kernels built since, or rebuilt).

- Each timed run reads its weight from memory, as decoding does (every layer's weight once a
  step, far more than any cache holds): the candidates run over copies of the weight in turn
  (`rotation`), as many as fill twice the largest CPU cache; of a weight larger than that,
  on its first rows only (`timed_rows`), so that measuring costs the same memory and time
  for a 262k-row head as for a small matrix. Timed on one weight that sits in
  the cache, the kernel that wins can lose on streamed weights (on an AMD EPYC with a 32 MiB
  cache, `F.linear` won on SmolLM2's cached 576 x 1536 matrices, and decoding with it was 7%
  slower than with oneDNN). Flushing the caches before a run on one weight was tried and gave
  noisy rankings: a kernel starting on a cold matrix of 1 MB is not one streaming through a
  model's weights.
- A run disturbed by other work is not counted: where Linux says how long each of the
  process's threads waited, runnable, for a CPU (/proc/self/task/*/schedstat), a run during
  which they waited for more than a tenth of it is set aside, and a candidate is timed until it
  has MIN_RUNS undisturbed runs (or MAX_TRIES tries). A choice with no undisturbed run of some
  candidate is kept as `contended` and measured again by the next process, until a quiet
  measurement replaces it. (Measured while a compiler kept both cores busy, one core's
  `F.linear` beat oneDNN's two threads, and int8 codes as 4-bit planes took 12.9 ms on
  SmolLM2's head instead of 1.6, losing to the int8 kernel.) The load average, which version 2
  read instead, kept such a choice until the load fell by half a task per core, and it mostly
  counts the benchmark that ran just before. Where the system does not say (not Linux), every
  run counts.
- `ZOO_AUTOTUNE=0` (or off/false/no) turns measuring off: every layer gets the fixed choice
  that each caller names as its default (the kernels zoo always used).
- `ZOO_KERNEL=<name>` forces a kernel wherever it is a candidate (the benchmarks and tests
  compare choices this way), `ZOO_KERNEL=<name>,<name>` the first of several that is;
  `forcing(*names)` does the same for a block of code.
- The cache is `$XDG_CACHE_HOME/zoo/kernels-v3.json` (else `~/.cache/zoo/kernels-v3.json`:
  one file per VERSION, so that two zoo versions on one machine do not overwrite each other's
  choices), or the file `ZOO_KERNEL_CACHE` names; it is written whole and renamed into place,
  and a file that is not the expected JSON is ignored and rewritten.

Only candidates whose output equals the reference within the rounding of their output dtype
(fp32 accumulation for fp32, one bf16 rounding for the bf16 kernels) are eligible, so a choice
never changes results beyond rounding.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor

from zoo.files.errors import WeightsError, parse_json
from zoo.files.folder import replace_file
from zoo.model import hugepages, native

VERSION = 3  # 1: timed on cached weights; 2: re-measured by the load average
BUDGET = 0.003  # seconds of timed runs per candidate (at least MIN_RUNS runs)
MIN_RUNS, MAX_RUNS = 3, 8  # undisturbed runs per candidate
MAX_TRIES = 24  # runs per candidate, disturbed ones included, at most
DISTURBED = 0.1  # a run whose threads waited for a CPU this share of its time is set aside
SLOW = 0.05  # seconds: a run this long and 4x the first candidate's is not repeated
MAX_COPIES = 256  # copies of a weight a measurement cycles through, at most
MAX_FILE = 16 * 2**20  # bytes of cache file read, at most (an entry is about 300)

T = TypeVar("T")
_forced: list[tuple[str, ...]] = []

# every kernel a layer may run, by the name the cache file, ZOO_KERNEL and the reports use
NAMES: dict[str, str] = {
    "onednn": "oneDNN's linear over nn.Linear's [out, in] weight",
    "linear": "F.linear over [out, in]",
    "linear_t": "F.linear over the weight stored transposed, [in, out] in memory",
    "onednn_bf16": "oneDNN's bf16 kernel over its blocked layout (quantize='bf16')",
    "dense_bf16": "F.linear over a plain bf16 matrix",
    "dense_bf16_t": "F.linear over a bf16 matrix stored [in, out]",
    "int8pack": "torch's int8 kernel: int8 weights, a bf16 scale per output channel",
    "int4pack": "torch's int4 kernel: 4 bits, a bf16 scale and zero per group of 32",
    "int4pack_planes": "int8 codes as two 4-bit planes: two passes of the int4 kernel",
    "dequant_fp32": "for a prompt: the weight dequantized once per call, fp32 matmul",
    "dequant_bf16": "for a prompt: the weight dequantized once per call, bf16 matmul",
    # zoo's own, built on the machine (zoo.model.native)
    "zoo_fp32": "zoo's fp32 matrix-vector kernel over [out, in] (built here; up to 4 rows)",
    "zoo_bf16": "zoo's bf16 matrix-vector kernel over [out, in] (built here; up to 4 rows)",
    "zoo_int8": "zoo's int8 kernel: int8 weights, a bf16 scale per output channel (built here)",
    "zoo_int4": "zoo's int4 kernel: 4 bits, a bf16 scale and zero per group of 32 (built here)",
    "zoo_rms_norm": "zoo's RMSNorm in one call, for fp32 inference (built here; not measured: "
                    "one call instead of seven)",
    "zoo_attention": "zoo's decoding step of an attention layer in one call: rotary, cache "
                     "write, attention (fp32; built here; not measured: one call for a dozen)",
    "zoo_block": "zoo's decoding step of a whole block in one call: norms, attention, MLP, "
                 "each projection on its own measured kernel (fp32; built here)",
}
# the kernels zoo.model.native builds; those of them that are not a linear layer's
NATIVE = ("zoo_fp32", "zoo_bf16", "zoo_int8", "zoo_int4", "zoo_rms_norm", "zoo_attention",
          "zoo_block")
FUSED = ("zoo_rms_norm", "zoo_attention", "zoo_block")
_memory: dict[str, dict[str, Any]] | None = None  # the cache file's entries, read once


def enabled() -> bool:
    """Whether kernel choices are measured (else each caller's fixed default)."""
    return os.environ.get("ZOO_AUTOTUNE", "1").strip().lower() not in ("0", "off", "false", "no")


def forced() -> tuple[str, ...]:
    """The kernels forced by `forcing` or ZOO_KERNEL (names separated by commas), if any
    (ValueError for a name that is no kernel: a typo would otherwise measure as usual,
    unnoticed)."""
    names = _forced[-1] if _forced else tuple(
        n.strip() for n in os.environ.get("ZOO_KERNEL", "").split(",") if n.strip())
    for name in names:
        if name not in NAMES:
            raise ValueError(f"ZOO_KERNEL={name} is not one of zoo's kernels: "
                             f"{', '.join(sorted(NAMES))}")
    return names


def offered(kernel: str) -> bool:
    """Whether one of zoo's own kernels (`NATIVE`) is a candidate: where measuring is on or it
    is forced, and it is built (zoo.model.native builds it at this first call: with measuring
    off and nothing forced, nothing is built)."""
    if not (enabled() or kernel in forced()):
        return False
    return native.ops() is not None


@contextlib.contextmanager
def forcing(*kernels: str) -> Iterator[None]:
    """Within the block, every layer for which one of `kernels` is a candidate chooses it (the
    first such; layers choose once: force before their first run, i.e. on a fresh model)."""
    _forced.append(kernels)
    try:
        yield
    finally:
        _forced.pop()


def cache_path() -> Path:
    explicit = os.environ.get("ZOO_KERNEL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zoo" / f"kernels-v{VERSION}.json"


def machine() -> dict[str, Any]:
    """What a choice depends on besides the layer: CPU, its flags, torch, threads."""
    name, flags = native.cpuinfo()
    return {"cpu": name, "flags": hashlib.sha256(flags.encode()).hexdigest()[:12],
            "torch": torch.__version__, "threads": torch.get_num_threads()}


# the CPU flags that decide which kernels are fast (the benchmarks print those a CPU has)
VECTOR_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                "avx_vnni", "avx_ne_convert", "amx_tile", "amx_bf16", "amx_int8")


def cpu() -> tuple[str, list[str]]:
    """The CPU's model name and which of VECTOR_FLAGS it has."""
    name, flags = native.cpuinfo()
    have = set(flags.split())
    return name, [flag for flag in VECTOR_FLAGS if flag in have]


def waited() -> int | None:
    """Nanoseconds the process's threads have spent runnable but waiting for a CPU, so far
    (the second field of Linux's /proc/self/task/*/schedstat); None where the system does
    not say."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    total, read = 0, False
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat", "rb") as f:
                total += int(f.read().split()[1])
            read = True
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended, or no schedstat in this kernel
    return total if read else None


@functools.cache
def cache_bytes() -> int:
    """The size of the CPU's largest cache (Linux's sysfs; 32 MiB where it does not say)."""
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = entry.read_text().strip().upper()
        except OSError:
            continue
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=32 * 2**20)


def timed_rows(rows: int, row_bytes: int, multiple: int = 64) -> int:
    """How many of a weight's rows its candidates are timed on: all of a weight smaller than
    twice the largest cache (copies of it are then cycled: `rotation`), else as many as fill
    twice that cache, a multiple of `multiple` (the int4 layout's row block). A matrix-vector
    kernel streams every row alike, so more rows tell nothing more, while each candidate's
    copy of all of them would cost their memory and seconds (three bf16 packings of Gemma 3's
    262k-row head at once; a transposed copy of an 8B model's 2 GB fp32 head)."""
    wanted = math.ceil(2 * cache_bytes() / max(row_bytes, 1))
    return min(rows, -(-wanted // multiple) * multiple)


def rotation(first: T, nbytes: int, copy: Callable[[T], T]) -> Callable[[], T]:
    """A function that gives `first` and copies of it in turn, as many as fill twice the
    largest CPU cache (`nbytes` each; at most MAX_COPIES), so that a kernel timed on them reads
    its weight from memory each run, as it does when decoding. The copies are made at the first
    call (a choice read from the cache makes none)."""
    count = max(1, min(math.ceil(2 * cache_bytes() / max(nbytes, 1)), MAX_COPIES))
    turns: list[Callable[[], T]] = []

    def turn() -> T:  # the copies are made at the first run: a cached choice runs nothing
        if not turns:
            turns.append(itertools.cycle([first, *(copy(first) for _ in range(count - 1))])
                         .__next__)
        return turns[0]()
    return turn


def key(shape: tuple[int, int], dtype: torch.dtype, mode: str, rows: int) -> str:
    """The cache key of a layer: the machine, then (out, in), dtype, packing and rows."""
    m = machine()
    return (f"{m['cpu']}|{m['flags']}|torch {m['torch']}|{m['threads']} threads|"
            f"{shape[0]}x{shape[1]}|{str(dtype).removeprefix('torch.')}|{mode}|{rows} rows")


def _read_file() -> dict[str, dict[str, Any]]:
    """The choices in the cache file now: empty where it is missing, larger than MAX_FILE,
    corrupt (not JSON, too deeply nested, not the expected shape) or of another version, so
    that it is rewritten."""
    path = cache_path()
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE + 1)
        if len(raw) > MAX_FILE:
            return {}
        data = parse_json(raw, str(path))
    except (OSError, WeightsError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION or \
            not isinstance(data.get("choices"), dict):
        return {}
    return {k: v for k, v in data["choices"].items()
            if isinstance(v, dict) and isinstance(v.get("kernel"), str)}


def _load() -> dict[str, dict[str, Any]]:
    global _memory
    if _memory is None:
        _memory = _read_file()
    return _memory


def _store(name: str, entry: dict[str, Any]) -> None:
    """Add one choice to the file: read what is there now (another process may have added
    some), add, write a temporary file beside it and rename it into place."""
    memory = _load()
    memory[name] = entry
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        merged = {**_read_file(), **memory}
        replace_file(path, json.dumps({"version": VERSION, "choices": merged}, indent=1,
                                      sort_keys=True).encode())
    except OSError:
        pass  # a read-only home: the choice holds for this process


def reset_memory() -> None:
    """Forget what was read from the cache file (tests; a new ZOO_KERNEL_CACHE)."""
    global _memory
    _memory = None


def tolerance(absolute_product: Tensor, inner: int, out_dtype: torch.dtype) -> Tensor:
    """How far a correct kernel's output may be from the exact product, per element, given
    sum_k |x_k w_k| (the classic dot-product error bound, with sqrt(k) growth for fp32
    accumulation in another order, plus one rounding of the output dtype)."""
    fp32 = torch.finfo(torch.float32).eps
    rounding = torch.finfo(out_dtype).eps if out_dtype != torch.float32 else 0.0
    return absolute_product * (4 * math.sqrt(inner) * fp32 + 2 * rounding) + 1e-30


def _once(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _timed(runs: Mapping[str, Callable[[], Any]]) -> tuple[dict[str, float], bool]:
    """Per candidate, its fastest undisturbed run (`waited`), and whether every candidate had
    one (else the fastest of its disturbed runs stands in). The candidates run in turns (a
    burst of load hits them all alike) until each had MIN_RUNS undisturbed runs and BUDGET
    seconds or MAX_RUNS of them, or MAX_TRIES runs in all; the minimum, not the median,
    because other work only ever adds time."""
    clean: dict[str, list[float]] = {name: [] for name in runs}
    disturbed: dict[str, list[float]] = {name: [] for name in runs}
    spent = dict.fromkeys(runs, 0.0)

    def going(name: str) -> bool:
        done = len(clean[name])
        tries = done + len(disturbed[name])
        return tries < MAX_TRIES and (done < MIN_RUNS or (spent[name] < BUDGET
                                                           and done < MAX_RUNS))

    while any(going(name) for name in runs):
        for name in [n for n in runs if going(n)]:
            before = waited()
            seconds = _once(runs[name])
            after = waited()
            quiet = before is None or after is None or \
                (after - before) * 1e-9 <= DISTURBED * seconds
            (clean if quiet else disturbed)[name].append(seconds)
            spent[name] += seconds
    return ({name: min(clean[name] or disturbed[name]) for name in runs},
            all(clean.values()))


def choose(name: str, candidates: Mapping[str, Callable[[], Tensor]], default: str,
           check: Callable[[Tensor], bool]) -> str:
    """The kernel for the layer key `name`: forced, cached, or measured now (and cached).

    `candidates` maps each kernel to a zero-argument run on a representative input, each run
    reading its weight from memory (`rotation`); `check`
    says whether a run's output equals the reference within rounding (a candidate that raises
    or fails it is not eligible); `default` is the fixed choice when measuring is off."""
    for want in forced():
        if want in candidates:
            return want
    if not enabled() or len(candidates) == 1:
        return default
    among = sorted(candidates)  # and the build of zoo's own, which may change between runs
    if any(kernel in NATIVE for kernel in candidates):
        among.append(f"native {native.build()}")
    known = _load().get(name)
    if known is not None and known.get("candidates") == among and not known.get("contended"):
        return known["kernel"]  # measured among these very candidates
    eligible: dict[str, Callable[[], Tensor]] = {}
    slow: dict[str, float] = {}
    first = math.inf
    for kernel, run in candidates.items():
        try:
            with torch.no_grad():
                if not check(run()):  # the first run may set up (pack) and warm up
                    continue
                once = _once(run)
        except RuntimeError:
            continue  # this build or CPU lacks it
        # an expensive candidate clearly slower than the first is not timed further (the
        # many-rows kernels of a large head take seconds a run)
        if once > max(4 * first, SLOW):
            slow[kernel] = once
        else:
            eligible[kernel] = run
            first = min(first, once)
    with torch.no_grad():
        timed, undisturbed = _timed(eligible) if eligible else ({}, True)
    times = {**timed, **slow}
    if not times:
        return default
    best = min(times, key=times.__getitem__)
    entry: dict[str, Any] = {"kernel": best, "candidates": among,
                             "us": {k: round(t * 1e6, 1) for k, t in times.items()}}
    if not undisturbed:
        entry["contended"] = True  # measured again by the next process
    _store(name, entry)
    return best


def summary(modules: Iterator[Any]) -> dict[str, dict[str, int]]:
    """Per kernel, how many layers ran it: {"kernel": {...}} for one row at a time (decoding),
    {"many_rows": {...}} where a layer ran another kernel for more rows (a prompt), and
    {"huge_pages": {"bytes": ..., "of": ...}}: how many bytes of those layers' weights Linux
    holds in 2 MiB pages (zoo.model.hugepages.backed), of all their bytes, and {"native": ...}:
    whether zoo's own kernels were built (zoo.model.native.state)."""
    one: dict[str, int] = {}
    many: dict[str, int] = {}
    weights: dict[int, Any] = {}
    for module in modules:
        chosen = getattr(module, "kernel_choice", None)
        if not callable(chosen):
            continue
        kernel, prompt = chosen()
        if kernel not in FUSED:  # a linear layer's weights
            for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
                weights[id(tensor)] = tensor
        if kernel is not None:
            one[kernel] = one.get(kernel, 0) + 1
        for k in prompt:
            many[k] = many.get(k, 0) + 1
    out = {"kernel": dict(sorted(one.items()))}
    if many:
        out["many_rows"] = dict(sorted(many.items()))
    tensors = [t for t in weights.values() if t.device.type == "cpu"]
    out["huge_pages"] = {"bytes": hugepages.backed(tensors),
                         "of": sum(t.numel() * t.element_size() for t in tensors)}
    out["native"] = native.state()
    return out


__all__ = ["FUSED", "NAMES", "NATIVE", "VECTOR_FLAGS", "cache_bytes", "cache_path", "choose", "cpu",
           "enabled", "forced", "forcing", "key", "machine", "offered", "reset_memory",
           "rotation", "summary", "timed_rows", "tolerance", "waited"]
