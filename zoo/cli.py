"""The `zoo` command line. Each command is a function of its parsed arguments returning the
exit status; tables go through tabulate and `--json` gives the same facts for scripts, errors
included (a JSON object with "error", and a non-zero status).

Commands that only read specs or metadata (list, show, compare, verify, plan, spec) never
import torch. Wherever they take a model name they also take a file: a config.json, a Hugging
Face folder or cached repo id, a GGUF file, a zoo or HF safetensors file
(`zoo.checkpoints.resolve`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from zoo.registry import UnknownModelError
from zoo.spec import SpecError

# what a command may raise on bad input: reported as "zoo: error: ...", exit status 2
ERRORS = (SpecError, UnknownModelError, ValueError, OSError, ImportError)

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn
    return register


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def say_resolved(resolved: Sequence[Any]) -> None:
    """One line per name that was not simply a registry name: what it was taken to be."""
    for r in resolved:
        if r.format is not None or r.requested.lower() != r.spec.name:
            print(r.describe())


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str] = (), *,
          widths: Sequence[int | None] = (), **options: Any) -> str:
    """tabulate, numbers left as written, long cells wrapped to `widths` (per column)."""
    import textwrap

    from tabulate import tabulate

    def fit(cell: Any, width: int | None) -> Any:
        if width is None or not isinstance(cell, str) or len(cell) <= width:
            return cell
        return "\n".join(textwrap.fill(part, width) for part in cell.split("\n"))

    limits = list(widths) + [None] * (max((len(r) for r in rows), default=0) - len(widths))
    rows = [[fit(cell, width) for cell, width in zip(row, limits, strict=False)] for row in rows]
    return tabulate(rows, headers=headers, disable_numparse=True, **options)


# --- list ------------------------------------------------------------------------------------

@command("list")
def cmd_list(args: argparse.Namespace) -> int:
    from zoo.accounting.catalog import list_models
    from zoo.registry import get_spec
    from zoo.report import list_row
    from zoo.units import human_count

    names = list_models(args.pattern, family=args.family)
    if args.local:
        return _list_local([get_spec(name) for name in names], args.json)
    rows = [list_row(get_spec(name)) for name in names]
    if args.sort == "name":
        rows.sort(key=lambda r: r["name"])
    elif args.sort == "params":
        rows.sort(key=lambda r: r["params"])
    elif args.sort == "year":
        rows.sort(key=lambda r: (r["year"] or 0, r["family"], r["params"]))
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print(f"no model matches {args.pattern!r}" + (f" in family {args.family!r}"
                                                       if args.family else ""))
        return 1
    headers = ["name", "family", "layers", "d_model", "heads", "d_ff", "context", "vocab",
               "params", "active", "reported", "year"]
    print(table([[r["name"], r["family"], r["layers"], r["d_model"], r["heads"], r["d_ff"],
                  r["context"], r["vocab"], human_count(r["params"]),
                  human_count(r["active"]) if r["experts"] else "-",
                  human_count(r["reported"]) if r["reported"] else "-", r["year"] or "-"]
                 for r in rows], headers, colalign=("left", "left", *["right"] * 10)))
    return 0


def _list_local(specs: list[Any], as_json: bool) -> int:
    from zoo.checkpoints.local import find_local, zoo_weight_dirs
    from zoo.files.hub import hf_cache_dir
    from zoo.units import human_bytes

    found = find_local(specs)
    if as_json:
        emit_json([f.to_dict() for f in found])
        return 0
    if not found:
        print(f"no weights for these models in the Hugging Face cache ({hf_cache_dir()}) or "
              f"the zoo weights folders ({', '.join(map(str, zoo_weight_dirs()))})")
        return 1
    print(table([[f.model, f.where, human_bytes(f.size), str(f.path)] for f in found],
                ["name", "where", "size", "path"]))
    return 0


# --- show ------------------------------------------------------------------------------------

@command("show")
def cmd_show(args: argparse.Namespace) -> int:
    from zoo.accounting import count_params
    from zoo.checkpoints import resolve
    from zoo.checkpoints.local import find_local, how_to_get
    from zoo.report import (
        architecture_rows,
        component_rows,
        provenance_rows,
        spec_json,
        summary_rows,
    )
    from zoo.units import human_bytes
    from zoo.verify import inconsistencies

    resolved = resolve(args.name)
    spec = resolved.spec
    local = find_local([spec])
    if args.json:
        data = spec_json(spec, args.context)
        data["resolved"] = resolved.to_dict()
        data["inconsistencies"] = inconsistencies(spec)
        data["local_weights"] = [f.to_dict() for f in local]
        emit_json(data)
        return 0
    count = count_params(spec)
    say_resolved([resolved])
    title = f"{spec.name}" + (f"  (aliases: {', '.join(spec.aliases)})" if spec.aliases else "")
    print(title)
    print("=" * len(title))
    print(table(architecture_rows(spec), tablefmt="plain"))
    print()
    where = [(f"weights ({f.where})", f"{f.path} ({human_bytes(f.size)})") for f in local]
    if resolved.format is not None:
        where.insert(0, (f"read from ({resolved.format})", resolved.requested))
    elif not where:
        where = [("weights locally", f"not found; to get them: {how_to_get(spec)}"
                  if spec.weights.hf else "none (no public weights)")]
    print(table(provenance_rows(spec) + where, tablefmt="plain", widths=[None, 90]))
    print()
    print(table(component_rows(count), ["component", "params", "", "share"],
                colalign=("left", "right", "right", "right")))
    print()
    print(table(summary_rows(count, args.context), tablefmt="plain", widths=[None, 90]))
    notes = [*spec.notes, *(f"internally inconsistent: {p}" for p in inconsistencies(spec))]
    notes += [f"{name} is not published; the value here ({getattr(spec, name)}) is assumed"
              for name in spec.unpublished]
    if notes:
        print()
        print("Notes:")
        for note in notes:
            print(f"  - {note}")
    if args.layers:
        print()
        print(table([[i, layer.kind, f"{layer.attention:,}", f"{layer.mlp:,}",
                      f"{layer.norms:,}", f"{layer.total:,}"]
                     for i, layer in enumerate(count.layers)],
                    ["layer", "attention kind", "attention", "mlp", "norms", "total"]))
    return 0


# --- compare ---------------------------------------------------------------------------------

@command("compare")
def cmd_compare(args: argparse.Namespace) -> int:
    from zoo.checkpoints import resolve
    from zoo.report import compare_rows, spec_json

    resolved = [resolve(name) for name in args.names]
    specs = [r.spec for r in resolved]
    if args.json:
        emit_json([{**spec_json(r.spec), "resolved": r.to_dict()} for r in resolved])
        return 0
    say_resolved(resolved)
    print(table(compare_rows(specs), ["", *(s.name for s in specs)],
                widths=[None, *[28] * len(specs)]))
    return 0


# --- verify ----------------------------------------------------------------------------------

@command("verify")
def cmd_verify(args: argparse.Namespace) -> int:
    from zoo.accounting.catalog import list_models
    from zoo.checkpoints import resolve
    from zoo.report import reported_figure
    from zoo.units import human_count
    from zoo.verify import DIFFERENCE_CONVENTION, check_reported

    if args.claims:
        if args.names:
            raise ValueError("--claims checks the models its file names; give no model names")
        return _verify_claims(args.claims, args.tolerance, args.json)
    resolved = [resolve(name) for name in args.names or list_models()]
    specs = [r.spec for r in resolved]
    if args.transformers:
        return _verify_transformers(resolved, args.json)
    checks = [check_reported(spec, args.tolerance) for spec in specs]
    if args.json:
        emit_json([{**c.to_dict(), "resolved": r.to_dict()}
                   for r, c in zip(resolved, checks, strict=True)])
    else:
        say_resolved(resolved)
        experts = any(c.active_exact is not None for c in checks)

        def active(c: Any) -> list[str]:
            if not experts:
                return []
            if c.active_exact is None:
                return ["-"]
            stated = "" if c.active_reported is None else (
                f" / {human_count(c.active_reported)} ({c.active_relative_difference:+.2%})")
            return [f"{c.active_exact:,}{stated} [{c.active_convention}]"]

        print(table([[c.name, f"{c.exact:,}", reported_figure(spec),
                      f"{c.relative_difference:+.2%}" if c.relative_difference is not None
                      else "-", *active(c), c.status, c.source]
                     for spec, c in zip(specs, checks, strict=True)],
                    ["model", "exact (closed form)", "reported", "difference",
                     *(["active: exact / reported"] if experts else []), "status", "source"],
                    widths=[None, None, None, None, *([30] if experts else []), None, 60]))
        flagged = [c for c in checks if c.status == "flagged"]
        broken = [c for c in checks if c.status == "inconsistent"]
        print(f"\n{len(checks)} checked (tolerance {args.tolerance:.0%}, exact figures exactly): "
              f"{len(flagged)} flagged, {len(broken)} internally inconsistent.")
        for c in broken:
            print(f"  {c.name}: " + "; ".join(c.problems))
        print(f"Differences are {DIFFERENCE_CONVENTION}.")
    return 1 if any(c.status == "inconsistent" for c in checks) else 0


def _verify_claims(path: str, tolerance: float, as_json: bool) -> int:
    from zoo.verify import DIFFERENCE_CONVENTION, TOLERATED, check_claims

    report = check_claims(path, tolerance)
    if as_json:
        emit_json(report.to_dict())
        return 1 if report.failed else 0

    def difference(check: Any) -> str:
        if check.zoo is None:
            return "-"
        if check.claim.field in TOLERATED:
            return f"{check.relative_difference:+.1%}"
        return f"{check.difference:+}" if check.difference else "0"

    def zoo(check: Any) -> str:
        if check.zoo is None:
            return "-"
        return f"{check.zoo:,}" if check.claim.field in TOLERATED else str(check.zoo)

    rows = []
    for row in report.rows:
        spec = row.resolution.spec
        model = spec.name if spec else "?"
        rows += [[row.row.line or "-", row.row.name, model, c.claim.field, c.claim.written,
                  zoo(c), difference(c), c.verdict]
                 for c in row.checks] or [[row.row.line or "-", row.row.name, model, "-", "-",
                                            "-", "-", "ok" if spec else "unresolved"]]
    print(table(rows, ["line", "as written", "model", "field", "claimed", "zoo", "difference",
                       "verdict"]))
    print("\nResolved:")
    for row in report.rows:
        r = row.resolution
        target = r.spec.name if r.spec else "unresolved"
        considered = f" (considered {', '.join(r.considered)})" if r.considered else ""
        print(f"  {r.written} (line {row.row.line}) -> {target}: {r.why}{considered}")
    checks = report.checks
    held = sum(c.verdict == "ok" for c in checks)
    unresolved = sum(c.verdict == "unresolved" for c in checks)
    print(f"\n{held} of {len(checks)} claims hold; {len(report.wrong)} wrong"
          + (f", {unresolved} on {len(report.unresolved)} unresolved row(s)" if report.unresolved
             else "")
          + f" (parameter counts within {tolerance:.0%}, other figures exactly).")
    print(f"Differences are {DIFFERENCE_CONVENTION}.")
    return 1 if report.failed else 0


def _verify_transformers(resolved: list[Any], as_json: bool) -> int:
    """Closed form against transformers' own count (models built on meta), with a progress
    bar: about a second per model."""
    from tqdm import tqdm

    from zoo.accounting import count_params
    from zoo.testing import transformers_count

    rows = []
    for r in tqdm(resolved, desc="counting with transformers", unit="model", disable=as_json):
        theirs = transformers_count(r.spec)
        ours = count_params(r.spec).total
        status = "no transformers class" if theirs is None else (
            "equal" if theirs == ours else "DIFFERENT")
        rows.append({"name": r.spec.name, "zoo": ours, "transformers": theirs,
                     "difference": None if theirs is None else theirs - ours,
                     "status": status, "resolved": r.to_dict()})
    if as_json:
        emit_json(rows)
    else:
        print(table([[r["name"], f"{r['zoo']:,}", f"{r['transformers']:,}" if r["transformers"]
                      is not None else "-", r["status"]] for r in rows],
                    ["model", "zoo (closed form)", "transformers (meta)", "status"]))
    return 1 if any(r["status"] == "DIFFERENT" for r in rows) else 0


# --- convert ---------------------------------------------------------------------------------

@command("convert")
def cmd_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from zoo.checkpoints import check_save, load, save
    from zoo.units import human_bytes

    fmt = args.format
    if fmt == "auto":
        fmt = "zoo" if args.dst.endswith(".safetensors") else "hf"
    options: dict[str, Any] = {} if fmt == "dcp" else {"progress": not args.quiet}
    if args.max_shard_size is not None:
        options["max_shard_size"] = args.max_shard_size
    check_save(args.dst, fmt, options)  # before a model of any size is loaded
    model = load(args.src, progress=not args.quiet,
                 **({"dtype": args.dtype} if args.dtype else {}))
    files = save(model, args.dst, format=fmt, **options)
    total = sum(Path(f).stat().st_size for f in files)
    summary = {"model": model.spec.name, "params": model.num_params(), "format": fmt,
               "files": [str(f) for f in files], "bytes": total}
    if args.json:
        emit_json(summary)
    else:
        print(f"{model.spec.name}: {model.num_params():,} parameters -> {fmt} format, "
              f"{len(files)} file(s), {human_bytes(total)}")
        for f in files:
            print(f"  {f}")
    return 0


# --- generate --------------------------------------------------------------------------------

@command("generate")
def cmd_generate(args: argparse.Namespace) -> int:
    from zoo.model.generation import sampling_options
    from zoo.text import generate, resolve_model

    options: dict[str, Any] = {"num_beams": args.beams, **sampling_options(
        args.temperature, args.top_k, args.top_p, args.seed)}
    if args.stop:
        options["stop"] = args.stop
    loading = {k: v for k, v in (("dtype", args.dtype), ("quantize", args.quantize)) if v}
    model = resolve_model(args.model, **loading)
    if args.stream and not args.json:
        for piece in generate(model, args.prompt, max_new_tokens=args.max_new_tokens,
                              chat=args.chat, stream=True, **options):
            print(piece, end="", flush=True)
        print()
        return 0
    text = generate(model, args.prompt, max_new_tokens=args.max_new_tokens, chat=args.chat,
                    **options)
    if args.json:
        emit_json({"model": args.model, "prompt": args.prompt, "text": text})
    else:
        print(text)
    return 0


# --- eval ------------------------------------------------------------------------------------

@command("eval")
def cmd_eval(args: argparse.Namespace) -> int:
    from zoo.perplexity import evaluate

    result = evaluate(args.model, read_text(args.file), context=args.context, stride=args.stride,
                      batch=args.batch, dtype=args.dtype, quantize=args.quantize,
                      progress=False if args.quiet else None)
    if args.json:
        emit_json({"file": args.file, **result.to_dict()})
        return 0
    print(f"{result.model} on {args.file}: perplexity {result.perplexity:.4f}, loss "
          f"{result.loss:.4f} nats per token")
    print(f"{result.scored:,} tokens scored ({result.tokens:,} in the text, all but the first) in "
          f"{result.windows} window(s) of up to {result.context} tokens, stride {result.stride}, "
          f"{result.batch} at a time")
    print(f"{result.tokens_per_second:,.1f} tokens/s ({result.seconds:.2f} s)")
    return 0


def read_text(path: str) -> str:
    from pathlib import Path

    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


# --- finetune --------------------------------------------------------------------------------

@command("finetune")
def cmd_finetune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from zoo.training import finetune, read_labels

    given = {name: getattr(args, name) for name in (
        "lr", "batch", "context", "warmup", "sampling_rate", "sampling_schedule", "pooling",
        "seed") if getattr(args, name) is not None}  # the rest: Settings' defaults
    out = args.out or f"{Path(args.model.rstrip('/')).stem}-finetuned"
    labels = read_labels(args.classify) if args.classify else None
    run = finetune(args.model, read_text(args.file), out=out, labels=labels, steps=args.steps,
                   bf16=args.bf16, save_every=args.save_every,
                   progress=False if args.quiet else None, **given)
    if args.json:
        emit_json({"file": args.file, **run.to_dict()})
        return 0
    if run.resumed_from == run.steps:
        print(f"{out} holds a finished run of {run.steps} steps: nothing to do")
        return 0
    objective = ("next-token loss" if run.task == "lm" else
                 f"classification ({', '.join(run.classes or [])})")
    resumed = f", resumed from step {run.resumed_from}" if run.resumed_from else ""
    print(f"{run.model.spec.name}, {objective} on {args.file}: {run.steps} steps{resumed}, "
          f"{'bf16 autocast' if run.bf16 else 'fp32'}, {run.tokens_per_second:,.0f} tokens/s")
    rows = run.history[run.resumed_from:]
    shown = sorted({round(i * (len(rows) - 1) / 9) for i in range(10)})
    columns = ["step", "loss", "lr"] + (["sampling rate"] if run.task == "lm" else [])
    print(table([[rows[i]["step"], f"{rows[i]['loss']:.4f}", f"{rows[i]['lr']:.2e}",
                  *([f"{rows[i]['sampling_rate']:.3f}"] if run.task == "lm" else [])]
                 for i in shown], columns))
    if run.accuracy is not None:
        print(f"accuracy on the training examples: {run.accuracy:.1%}")
    print(f"saved to {out}" + (f"; loss curve {run.plot}" if run.plot else ""))
    for note in run.notes:
        print(f"note: {note}")
    return 0


# --- plan ------------------------------------------------------------------------------------

@command("plan")
def cmd_plan(args: argparse.Namespace) -> int:
    from zoo.accounting.plan import describe, make_plan
    from zoo.checkpoints import resolve

    resolved = resolve(args.name)
    plan = make_plan(resolved.spec, devices=args.gpus, device_memory=args.gpu_memory,
                     train=args.train, dtype=args.dtype, batch=args.batch, context=args.context)
    if args.json:
        emit_json({**plan.to_dict(), "resolved": resolved.to_dict()})
        return 0
    say_resolved([resolved])
    mode = "training (FSDP2, mixed-precision AdamW)" if plan.train else "inference (FSDP)"
    print(f"{plan.spec.name}: {mode}, {plan.dtype}, batch {plan.batch} per device, context "
          f"{plan.context}")
    print(table(describe(plan), ["per device", "bytes"]))
    return 0


# --- plot ------------------------------------------------------------------------------------

@command("plot")
def cmd_plot(args: argparse.Namespace) -> int:
    from zoo import plot

    if args.kind != "scale" and not args.names:
        raise ValueError(f"zoo plot {args.kind} needs model names, e.g. zoo plot {args.kind} "
                         f"openai-gpt gpt2-xl gpt3-175b")
    draw = {"scale": plot.scale, "breakdown": plot.breakdown, "memory": plot.memory}[args.kind]
    fig, data = draw(args.names or None)
    out = plot.save(fig, args.out or f"zoo-{args.kind}.png")
    if args.json:
        emit_json({"file": str(out), "data": data})
    else:
        print(f"wrote {out} ({len(data)} models)")
    return 0


# --- spec ------------------------------------------------------------------------------------

@command("spec")
def cmd_spec(args: argparse.Namespace) -> int:
    from zoo.checkpoints import resolve
    from zoo.report import spec_entry

    resolved = resolve(args.path)
    entry = spec_entry(resolved, args.name)
    if args.json:
        emit_json({"entry": entry, "resolved": resolved.to_dict()})
    else:
        import yaml

        print(f"# {resolved.describe()}")
        print(yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, width=10**6), end="")
    return 0


# --- parser ----------------------------------------------------------------------------------

NAME_OR_FILE = ("a registry name, or a config.json, Hugging Face folder or cached repo id, GGUF "
                "file, or zoo / HF safetensors file (read from metadata; no weights loaded)")


def _add_loading(p: argparse.ArgumentParser) -> None:
    """How `zoo generate` and `zoo eval` load the model: its dtype, or its packing."""
    from zoo.units import FLOAT_DTYPES, QUANTIZATIONS

    p.add_argument("--dtype", choices=FLOAT_DTYPES, default=None,
                   help="load the weights in this dtype (default: as stored)")
    p.add_argument("--quantize", choices=QUANTIZATIONS, default=None,
                   help="pack the weights for fast CPU decoding: bf16, int8 per channel, or "
                        "int4 per group of 32 (a GGUF file's own 4-bit blocks kept)")


def build_parser() -> argparse.ArgumentParser:
    from zoo.checkpoints import SAVABLE
    from zoo.units import FLOAT_DTYPES
    from zoo.verify import DEFAULT_TOLERANCE

    parser = _Parser(
        prog="zoo", description="A model zoo and parameter-accounting registry for decoder-only "
                                "language models.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    p = add("list", "list models: hyperparameters, exact and reported parameter counts")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names and aliases")
    p.add_argument("--family", help="only this family")
    p.add_argument("--sort", choices=["family", "params", "name", "year"], default="family",
                   help="order (default: family, then size)")
    p.add_argument("--local", action="store_true",
                   help="only models whose weights are on this machine (Hugging Face cache or "
                        "zoo weights folders), with their size on disk")

    p = add("show", "every fact about one model: hyperparameters, provenance, accounting")
    p.add_argument("name", metavar="NAME_OR_FILE", help=NAME_OR_FILE)
    p.add_argument("--context", type=_positive_int, default=None,
                   help="context for KV-cache and FLOP figures (default: the full context)")
    p.add_argument("--layers", action="store_true", help="also list the count per layer")

    p = add("compare", "the same facts side by side, one column per model")
    p.add_argument("names", nargs="+", metavar="NAME_OR_FILE", help=NAME_OR_FILE)

    p = add("verify", "closed-form counts against reported figures, or a table of claims")
    p.add_argument("names", nargs="*", metavar="NAME_OR_FILE",
                   help="models (default: every registry model); " + NAME_OR_FILE)
    p.add_argument("--claims", metavar="FILE",
                   help="a YAML or CSV table of claims to check; a family's name (GPT-2, "
                        "LLaMA) stands for the member its row's figures fit")
    p.add_argument("--tolerance", type=_tolerance, default=DEFAULT_TOLERANCE,
                   help="relative tolerance for rounded parameter figures (default 0.05)")
    p.add_argument("--transformers", action="store_true",
                   help="also count each model with transformers (built on meta; slower)")

    p = add("convert", "convert weights: zoo safetensors, Hugging Face folder / repo id, GGUF")
    p.add_argument("src", help="a zoo .safetensors file, a Hugging Face folder or cached repo "
                               "id, or a .gguf file")
    p.add_argument("dst", help="a .safetensors file (zoo format) or a folder (Hugging Face)")
    p.add_argument("--format", choices=["auto", *SAVABLE], default="auto",
                   help="output format (default: zoo for *.safetensors, else hf)")
    p.add_argument("--dtype", choices=FLOAT_DTYPES, default=None,
                   help="convert floating-point weights (default: keep)")
    p.add_argument("--max-shard-size", default=None,
                   help="shard above this size (default 5GB; zoo and hf formats)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = add("plan", "memory per device under FSDP sharding, and the fewest devices that fit")
    p.add_argument("name", metavar="NAME_OR_FILE", help=NAME_OR_FILE)
    p.add_argument("--gpus", type=_positive_int, required=True, help="number of devices")
    p.add_argument("--gpu-memory", type=_size, default="80GB",
                   help="memory per device, with its unit: 80GB is 80e9 bytes, 80GiB 80 x 2^30 "
                        "(default 80GB)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--train", action="store_true", help="training (mixed-precision AdamW)")
    mode.add_argument("--infer", action="store_true", help="inference (the default)")
    p.add_argument("--dtype", choices=FLOAT_DTYPES, default="bf16")
    p.add_argument("--batch", type=_positive_int, default=1, help="sequences per device")
    p.add_argument("--context", type=_positive_int, default=None,
                   help="tokens per sequence (default: the model's context)")

    p = add("spec", "the YAML spec entry of a checkpoint or config.json, for a spec folder "
                    "(ZOO_SPECS)")
    p.add_argument("path", metavar="FILE", help=NAME_OR_FILE)
    p.add_argument("--name", help="the model's name in the entry (default: the file's)")

    p = add("plot", "pictures: scale over the years, parameter breakdown, memory (matplotlib)")
    p.add_argument("kind", choices=["scale", "breakdown", "memory"])
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="models (scale: default all; breakdown and memory: required)")
    p.add_argument("--out", help="output file, .png or .svg (default zoo-KIND.png)")

    p = add("generate", "generate text with a checkpoint (zoo, Hugging Face folder, GGUF)")
    p.add_argument("model", metavar="NAME_OR_PATH",
                   help="a checkpoint path, a cached repo id, or a registry name whose weights "
                        "are in the local Hugging Face cache")
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new-tokens", type=_positive_int, default=None,
                   help="default: 128 (or what the context leaves)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sample at this temperature (0: greedy, the default)")
    p.add_argument("--top-k", type=_positive_int, default=None, help="sample from the k best")
    p.add_argument("--top-p", type=float, default=None, help="sample from the p nucleus")
    p.add_argument("--beams", type=_positive_int, default=1, help="beam search with B beams")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    p.add_argument("--stop", action="append", default=None, help="stop string (repeatable)")
    p.add_argument("--chat", action="store_true", help="apply the model's chat template")
    p.add_argument("--stream", action="store_true", help="print tokens as they come")
    _add_loading(p)

    p = add("eval", "perplexity of a text file: sliding windows, each token scored once")
    p.add_argument("model", metavar="NAME_OR_PATH",
                   help="a checkpoint path, a cached repo id, or a registry name whose weights "
                        "are in the local Hugging Face cache")
    p.add_argument("file", metavar="FILE.txt", help="UTF-8 text to score")
    p.add_argument("--context", type=_positive_int, default=None,
                   help="tokens per window (default: the model's context)")
    p.add_argument("--stride", type=_positive_int, default=None,
                   help="tokens between window starts, below the context; each window scores "
                        "the tokens after the previous one's end (default: half the context)")
    p.add_argument("--batch", type=_positive_int, default=1, help="windows per forward pass")
    _add_loading(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("finetune", "fine-tune on a text file (next-token loss), or a classifier on "
                        "labelled lines (--classify); resumes from the output's checkpoint")
    p.add_argument("model", metavar="NAME_OR_PATH",
                   help="a checkpoint path, a cached repo id, or a registry name whose weights "
                        "are in the local Hugging Face cache")
    p.add_argument("file", metavar="FILE.txt",
                   help="UTF-8 text; with --classify, one example per line")
    p.add_argument("--steps", type=_positive_int, required=True, help="optimizer steps")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (5e-5)")
    p.add_argument("--batch", type=_positive_int, default=None, help="sequences per step (8)")
    p.add_argument("--context", type=_positive_int, default=None,
                   help="tokens per sequence; with --classify, the most per example (256)")
    p.add_argument("--warmup", type=int, default=None,
                   help="steps of linear warmup before the cosine decay (a tenth of --steps)")
    p.add_argument("--sampling-rate", type=float, default=None,
                   help="scheduled sampling: the probability that an input token is the "
                        "model's own prediction instead of the text's, reached at the last "
                        "step (0: teacher forcing throughout)")
    p.add_argument("--sampling-schedule", choices=["linear", "constant"], default=None,
                   help="the rate rises linearly from 0 (default) or is held constant")
    p.add_argument("--classify", metavar="LABELS.csv",
                   help="train a classifier: a CSV with a 'label' column, one row per line of "
                        "FILE.txt")
    p.add_argument("--pooling", choices=["last", "mean", "max"], default=None,
                   help="how the classifier pools the final states over the tokens (last)")
    p.add_argument("--seed", type=int, default=None, help="batch order, sampling draws, "
                                                         "classifier init (0)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: where the CPU or GPU computes bf16 natively)")
    p.add_argument("--save-every", type=_positive_int, default=100,
                   help="checkpoint every N steps, and at the end (100)")
    p.add_argument("--out", default=None,
                   help="the run's folder: weights, tokenizer, optimizer state, loss.png "
                        "(default: NAME-finetuned)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _size(text: str) -> int:
    """A memory size with its unit ('80GB'); a bare number is refused, suggesting the unit."""
    from zoo.units import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a relative tolerance >= 0 (0.05 is 5%), "
                                         f"got {text}")
    return value


def _version() -> str:
    from zoo import __version__

    return f"zoo {__version__}"


class UsageError(Exception):
    """A command line that argparse refuses, raised (not printed and exited) so that `main`
    reports it like every other error: as text, or as JSON under --json."""

    def __init__(self, message: str, usage: str, prog: str) -> None:
        super().__init__(message)
        self.usage, self.prog = usage, prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage(), self.prog)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; on bad input, "zoo: error: ..." on stderr (or, with --json, a JSON
    object {"error": {"type", "message"}} on stdout) and exit status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:  # file names are bytes: print one that is not UTF-8 as it is
        reconfigure(errors="surrogateescape")
    try:
        args = build_parser().parse_args(argv)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that went away shows here, not at exit
        return code
    except BrokenPipeError:  # `zoo list | head`: the reader has what it wanted
        _discard_stdout()
        return 0
    except UsageError as err:
        return _failed(err, as_json, f"{err.usage}{err.prog}")
    except ERRORS as err:
        return _failed(err, as_json)


def _failed(err: Exception, as_json: bool, where: str = "zoo") -> int:
    if as_json:
        emit_json({"error": {"type": type(err).__name__, "message": str(err)}})
    else:
        print(f"{where}: error: {err}", file=sys.stderr)
    return 2


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered is not written to the closed
    pipe at exit (Python would print "Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (a test's capture): nothing will be flushed to a pipe


if __name__ == "__main__":
    sys.exit(main())
