"""The commands that only read specs and metadata: list, show, compare, verify, plan, spec,
plot and site. None of them imports torch. Wherever they take a model name they also take a
file: a config.json, a Hugging Face folder or cached repo id, a GGUF file, a zoo or HF
safetensors file (`zoo.checkpoints.resolve`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from zoo.cli.declare import (
    BATCH,
    CONTEXT,
    OneOf,
    arg,
    command,
    converter,
    emit_json,
    name_or_file,
    say_resolved,
)
from zoo.report import table
from zoo.units import FLOAT_DTYPES
from zoo.verify import DEFAULT_TOLERANCE

SORTS = ("family", "params", "name", "year")


@command("list", "list models: hyperparameters, exact and reported parameter counts",
         arg("pattern", nargs="?", default="*", help="glob on names and aliases"),
         arg("--family", help="only this family"),
         arg("--sort", choices=SORTS, default="family",
             help="order: family (then size), params, name or year"),
         arg("--local", action="store_true",
             help="only models whose weights are on this machine (Hugging Face cache or zoo "
                  "weights folders), with their size on disk"))
def list_(args: argparse.Namespace) -> int:
    from zoo.accounting.catalog import list_models
    from zoo.registry import get_spec
    from zoo.report import list_row
    from zoo.units import human_count

    names = list_models(args.pattern, family=args.family)
    if args.local:
        return _list_local([get_spec(name) for name in names], args.json)
    rows = [list_row(get_spec(name)) for name in names]
    order = {"name": lambda r: r["name"], "params": lambda r: r["params"],
             "year": lambda r: (r["year"] or 0, r["family"], r["params"])}
    if args.sort in order:
        rows.sort(key=order[args.sort])
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


@command("show", "every fact about one model: hyperparameters, provenance, accounting",
         name_or_file("name"),
         CONTEXT.but(help="context for KV-cache and FLOP figures (default: the full context)"),
         arg("--layers", action="store_true", help="also list the count per layer"))
def show(args: argparse.Namespace) -> int:
    from zoo.checkpoints.counted import count_target
    from zoo.checkpoints.local import find_local
    from zoo.report import headers_json, headers_only_text, headers_section, show_text, spec_json
    from zoo.verify import inconsistencies

    counted = count_target(args.name)
    spec = counted.spec
    if spec is None:  # weights of an architecture zoo does not know: their headers
        if args.json:
            emit_json({**headers_json(counted), "resolved": counted.to_dict(),
                       "inconsistencies": [], "local_weights": []})
        else:
            print(headers_only_text(counted))
        return 0
    local = find_local([spec])
    warnings = _past_context(spec, args.context)
    if args.json:
        data = spec_json(spec, args.context)
        data["warnings"] = warnings
        data["resolved"] = counted.to_dict()
        data["inconsistencies"] = inconsistencies(spec)
        data["local_weights"] = [f.to_dict() for f in local]
        data["headers"] = counted.headers_dict()
        emit_json(data)
        return 0
    assert counted.resolved is not None
    say_resolved([counted.resolved])
    _warn(warnings)
    print(show_text(counted.resolved, local, args.context, args.layers))
    section = headers_section(counted)
    if section:
        print(f"\n{section}")
    return 0


def _past_context(spec: Any, context: int | None) -> list[str]:
    """A --context longer than the model was made for: its figures are still computed (a KV
    cache grows the same way), but the model cannot be run there as published."""
    if context is None or context <= spec.context_length:
        return []
    return [f"--context {context:,} is past {spec.name}'s context of {spec.context_length:,} "
            f"tokens: the figures are for a length the model was not made for"]


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"zoo: warning: {warning}", file=sys.stderr)


@command("compare", "the same facts side by side, one column per model",
         name_or_file("names", nargs="+"))
def compare(args: argparse.Namespace) -> int:
    from zoo.checkpoints.counted import count_target
    from zoo.report import compare_columns, headers_json, spec_json

    items = [count_target(name) for name in args.names]
    if args.json:
        emit_json([{**(spec_json(c.spec) if c.spec is not None else headers_json(c)),
                    "resolved": c.to_dict(),
                    **({"headers": c.headers_dict()} if c.spec is not None else {})}
                   for c in items])
        return 0
    for c in items:
        if c.resolved is None or c.format is not None or \
                c.requested.lower() != c.resolved.spec.name:
            print(c.describe())
    print(table(compare_columns(items), ["", *(c.name for c in items)],
                widths=[None, *[28] * len(items)]))
    return 0


@command("verify", "closed-form counts against reported figures, or a table of claims",
         name_or_file("names", nargs="*",
                      help="models (default: every registry model); a registry name, or a "
                           "config.json, Hugging Face folder or cached repo id, GGUF file, or "
                           "zoo / HF safetensors file"),
         arg("--claims", metavar="FILE",
             help="a YAML or CSV table of claims to check; a family's name (GPT-2, LLaMA) "
                  "stands for the member its row's figures fit"),
         arg("--tolerance", default=DEFAULT_TOLERANCE,
             type=converter("tolerance", "float", min=0.0, max=1.0,
                            expected="a relative tolerance >= 0 and <= 1 (0.05 is 5%)"),
             help="relative tolerance for rounded parameter figures"),
         arg("--transformers", action="store_true",
             help="also count each model with transformers (built on meta; slower)"))
def verify(args: argparse.Namespace) -> int:
    from zoo.accounting.catalog import list_models
    from zoo.checkpoints import resolve
    from zoo.report import reported_figure
    from zoo.units import human_count
    from zoo.verify import DIFFERENCE_CONVENTION, check_reported

    if args.claims:
        if args.names:
            raise ValueError("--claims checks the models its file names; give no model names")
        return _verify_claims(args.claims, args.tolerance, args.json)
    counted = [_verifiable(name) for name in args.names]
    resolved = [c.resolved for c in counted] or [resolve(name) for name in list_models()]
    specs = [r.spec for r in resolved]
    checks = [check_reported(spec, args.tolerance) for spec in specs]
    headers = [c.check for c in counted] or [None] * len(checks)
    theirs = _transformers_counts(specs, args.json) if args.transformers else None
    differ = theirs is not None and any(t["status"] == "DIFFERENT" for t in theirs)
    failed = differ or any(c.status == "inconsistent" for c in checks)
    if args.json:
        emit_json([{**c.to_dict(), "resolved": r.to_dict(),
                    **({"headers": h.to_dict()} if h is not None else {}),
                    **({"transformers": theirs[i]} if theirs is not None else {})}
                   for i, (r, c, h) in enumerate(zip(resolved, checks, headers, strict=True))])
        return 1 if failed else 0
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

    def meta(i: int) -> list[str]:
        if theirs is None:
            return []
        count = theirs[i]["count"]
        return [f"{count:,}" if count is not None else "-", theirs[i]["status"]]

    print(table([[c.name, f"{c.exact:,}", *meta(i), reported_figure(spec),
                  f"{c.relative_difference:+.2%}" if c.relative_difference is not None
                  else "-", *active(c), c.status, c.source]
                 for i, (spec, c) in enumerate(zip(specs, checks, strict=True))],
                ["model", "exact (closed form)",
                 *(["transformers (meta)", "against it"] if theirs is not None else []),
                 "reported", "difference",
                 *(["active: exact / reported"] if experts else []), "status", "source"],
                widths=[None, None, *([None, None] if theirs is not None else []), None, None,
                        *([30] if experts else []), None, 60]))
    flagged = [c for c in checks if c.status == "flagged"]
    broken = [c for c in checks if c.status == "inconsistent"]
    print(f"\n{len(checks)} checked (tolerance {args.tolerance:.0%}, exact figures exactly): "
          f"{len(flagged)} flagged, {len(broken)} internally inconsistent"
          + ("" if theirs is None else
             f"; transformers counts {sum(t['status'] == 'equal' for t in theirs)} equal, "
             f"{sum(t['status'] == 'DIFFERENT' for t in theirs)} different") + ".")
    for c in broken:
        print(f"  {c.name}: " + "; ".join(c.problems))
    for spec, h in zip(specs, headers, strict=True):
        if h is not None:
            print(f"  {spec.name}: " + (f"the tensor headers' total equals the closed form "
                                        f"({h.closed_form:,})" if h.agrees else
                                        f"warning: {h.warning()}"))
    print(f"Differences are {DIFFERENCE_CONVENTION}.")
    return 1 if failed else 0


def _verifiable(name: str) -> Any:
    """A name resolved with its weights' headers where it has weights; one without a spec
    (counted from its headers only) has no closed form to verify, which is said."""
    from zoo.checkpoints.counted import count_target

    counted = count_target(name)
    if counted.resolved is None:
        raise ValueError(f"{name}: {counted.what}: there is no closed form to verify; "
                         f"`zoo show {name}` gives what the headers count")
    return counted


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


def _transformers_counts(specs: list[Any], quiet: bool) -> list[dict[str, Any]]:
    """transformers' own count of each spec (built on meta), beside the closed form, with a
    progress bar: about a second per model."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:  # what is missing, said first
        raise ModuleNotFoundError("No module named 'transformers'", name="transformers")
    from tqdm import tqdm

    from zoo.accounting import count_params
    from zoo.testing import transformers_count

    rows = []
    for spec in tqdm(specs, desc="counting with transformers", unit="model", disable=quiet):
        theirs = transformers_count(spec)
        ours = count_params(spec).total
        rows.append({"count": theirs,
                     "difference": None if theirs is None else theirs - ours,
                     "status": "no transformers class" if theirs is None else (
                         "equal" if theirs == ours else "DIFFERENT")})
    return rows


@command("plan", "memory per device under FSDP sharding, and the fewest devices that fit",
         name_or_file("name"),
         arg("--gpus", type=converter("gpus", "int", min=1), required=True,
             help="number of devices"),
         arg("--gpu-memory", type=converter("gpu_memory", "bytes"), default="80GB",
             help="memory per device, with its unit: 80GB is 80e9 bytes, 80GiB 80 x 2^30"),
         OneOf((arg("--train", action="store_true",
                    help="training (mixed-precision AdamW)"),
                arg("--infer", action="store_true", help="inference (the default)"))),
         arg("--dtype", choices=FLOAT_DTYPES, default="bf16", help="weights' dtype"),
         BATCH,
         CONTEXT.but(help="tokens per sequence (default: the model's context)"))
def plan(args: argparse.Namespace) -> int:
    from zoo.accounting.plan import describe, make_plan
    from zoo.checkpoints.counted import count_target

    counted = count_target(args.name)
    if counted.spec is None:
        return _plan_from_headers(counted, args)
    plan = make_plan(counted.spec, devices=args.gpus, device_memory=args.gpu_memory,
                     train=args.train, dtype=args.dtype, batch=args.batch, context=args.context)
    if args.json:
        emit_json({**plan.to_dict(), "resolved": counted.to_dict(),
                   "part_of": plan.spec.part_of or None})
        return 0
    assert counted.resolved is not None
    say_resolved([counted.resolved])
    if plan.spec.part_of:
        print(f"{plan.spec.name}: counts {plan.spec.part_of}"
              + (f" ({plan.spec.rest_params:,} parameters, not in these figures)"
                 if plan.spec.rest_params is not None else ""))
    mode = "training (FSDP2, mixed-precision AdamW)" if plan.train else "inference (FSDP)"
    print(f"{plan.spec.name}: {mode}, {plan.dtype}, batch {plan.batch} per device, context "
          f"{plan.context}")
    print(table(describe(plan), ["per device", "bytes"], widths=[None, 90]))
    return 0


def _plan_from_headers(counted: Any, args: argparse.Namespace) -> int:
    """The plan's weights and training state from the tensor headers, for an architecture zoo
    does not know; what needs the architecture is named as not computed."""
    from zoo.accounting.plan import describe_headers_plan, plan_from_headers

    if args.context is not None:
        raise ValueError(f"{counted.requested}: --context needs the architecture "
                         f"({counted.why_no_spec}); the headers give the weights only")
    plan = plan_from_headers(counted.headers, counted.name, counted.why_no_spec,
                             devices=args.gpus, device_memory=args.gpu_memory,
                             train=args.train, dtype=args.dtype, batch=args.batch)
    if args.json:
        emit_json({**plan.to_dict(), "resolved": counted.to_dict()})
        return 0
    mode = "training (FSDP2, mixed-precision AdamW)" if plan.train else "inference (FSDP)"
    print(f"{plan.name}: {counted.what}")
    print(f"{plan.name}: {mode}, {plan.dtype}, batch {plan.batch} per device")
    print(table(describe_headers_plan(plan), ["per device", "bytes"], widths=[None, 90]))
    return 0


@command("spec", "the YAML spec entry of a checkpoint or config.json, for a spec folder "
                 "(ZOO_SPECS)",
         name_or_file("path", metavar="FILE"),
         arg("--name", help="the model's name in the entry (default: the file's)"))
def spec(args: argparse.Namespace) -> int:
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


PLOTS = ("scale", "breakdown", "memory")


@command("plot", "pictures: scale over the years, parameter breakdown, memory (matplotlib)",
         arg("kind", choices=PLOTS),
         arg("names", nargs="*", metavar="NAME",
             help="models (scale: default all; breakdown and memory: required)"),
         arg("--out", help="output file, .png or .svg (default zoo-KIND.png)"))
def plot(args: argparse.Namespace) -> int:
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


@command("site", "a static web catalogue: an index that sorts and filters, a page per model with "
                 "a hardware planner, and a compare page (works from a file; needs zoo[site])",
         arg("out", metavar="OUT", help="the site's folder (made if its parent exists)"),
         arg("names", nargs="*", metavar="NAME",
             help="only these registry models (default: every one)"),
         arg("--add", action="append", default=[], metavar="FILE",
             help="also a page for a config.json, Hugging Face folder, GGUF or safetensors "
                  "file (repeatable)"))
def site(args: argparse.Namespace) -> int:
    from zoo.site import build_site

    built = build_site(args.out, args.names or None, args.add)
    if args.json:
        emit_json(built.to_dict())
    else:
        print(f"wrote {len(built.files)} files ({len(built.models)} models, "
              f"{built.bytes / 1e6:.1f} MB) to {built.out} in {built.seconds:.1f} s; open "
              f"{built.out / 'index.html'}")
    return 0
