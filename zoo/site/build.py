"""Rows for the pages (taken from `zoo.report`, the rows `zoo show` and `compare` print, and
from `zoo.accounting.plan.plan_inputs`), rendered by the templates beside this module and
written into the site's folder one file at a time, each renamed into place whole, the index
last (so it never links to a page not yet written)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.accounting import (
    COMPONENTS,
    FLOPS_CONVENTION,
    MOE_COMPONENTS,
    NON_EMBEDDING_CONVENTION,
    RECURRENT_STATE_CONVENTION,
    TRAINING_MEMORY_CONVENTION,
    WEIGHT_BYTES_CONVENTION,
    assumptions,
    count_params,
)
from zoo.accounting.catalog import list_models
from zoo.accounting.plan import MAX_DEVICES, plan_inputs
from zoo.files.folder import replace_file
from zoo.registry import get_spec, packaged_specs_dir, slug
from zoo.report import (
    LAYER_HEADERS,
    active_convention_rows,
    architecture_rows,
    compare_facts,
    component_rows,
    dtype_rows,
    header_check_line,
    header_component_rows,
    layer_rows,
    list_row,
    provenance_rows,
    reported_figure,
    spec_notes,
    summary_rows,
    tier,
    unclassified_line,
)
from zoo.spec import ModelSpec
from zoo.units import DTYPE_BYTES, FLOAT_DTYPES, human_bytes, human_count
from zoo.verify import check_reported

HERE = Path(__file__).parent
STATIC = ("site.css", "site.js")  # written to OUT/assets/ as they are
# the picture's segments and colours: those of `zoo plot breakdown` (zoo/plot.py)
SEGMENTS = {"token_embedding": "embeddings", "position_embedding": "embeddings",
            "attention": "attention", "mlp": "mlp", "router": "experts", "experts": "experts",
            "shared_experts": "experts", "norms": "norms", "head": "head", "extras": "extras"}
COLORS = {"embeddings": "#4c72b0", "attention": "#dd8452", "mlp": "#55a868",
          "experts": "#64b5cd", "norms": "#c44e52", "head": "#8172b3", "extras": "#937860"}
SIZE_STEPS = ((10**8, "100M"), (10**9, "1B"), (3 * 10**9, "3B"), (10**10, "10B"),
              (3 * 10**10, "30B"), (10**11, "100B"), (3 * 10**11, "300B"), (10**12, "1T"))


@dataclass(frozen=True)
class Entry:
    """One model of the site: its spec, its page's name, and where it came from (None: the
    registry; else the file given to --add, as `zoo plan` would take it)."""

    spec: ModelSpec
    page: str
    added: str | None = None
    how: str = ""  # for an added file: what it was read as
    counted: Any = None  # for an added file with weights: its tensor headers (Counted)


@dataclass
class Site:
    """What `build_site` wrote: the folder, each file's size (relative path -> bytes), the
    models, and how long it took."""

    out: Path
    files: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bytes(self) -> int:
        return sum(self.files.values())

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "index": str(self.out / "index.html"),
                "models": self.models, "files": len(self.files), "bytes": self.bytes,
                "index_bytes": self.files.get("index.html"), "seconds": round(self.seconds, 3)}


def build_site(out: str | os.PathLike[str], names: Sequence[str] | None = None,
               add: Iterable[str | os.PathLike[str]] = ()) -> Site:
    """Write the site into `out` (created if its parent exists): every registry model, or
    `names`, and a page for each file in `add` (a config.json, a Hugging Face folder, a GGUF
    or safetensors file with its metadata: whatever `zoo show` reads a spec from)."""
    started = time.perf_counter()
    env = _environment()
    folder = _folder(out)
    specs = [get_spec(name) for name in (list_models() if names is None else names)]
    entries = [Entry(spec, spec.name) for spec in {s.name: s for s in specs}.values()]
    entries += _added(add, {e.page for e in entries})
    if not entries:
        raise ValueError("the site would have no models: name some, or leave the names out")
    site = Site(folder, models=[e.spec.name for e in entries])
    pages: dict[str, str] = {f"assets/{name}": (HERE / "static" / name).read_text()
                             for name in STATIC}
    models = [model_page(e) for e in entries]
    pages["assets/models.js"] = "window.ZOO_MODELS = " + _script_json(
        [compare_entry(e) for e in entries]) + ";\n"
    common = {"dtypes": FLOAT_DTYPES, "max_devices": MAX_DEVICES}
    for entry, model in zip(entries, models, strict=True):
        pages[f"models/{entry.page}.html"] = env.get_template("model.html.j2").render(
            m=model, root="../", page="model", **common)
    pages["compare.html"] = env.get_template("compare.html.j2").render(
        root="", page="compare", count=len(entries), **common)
    rows = [index_row(e) for e in entries]
    pages["index.html"] = env.get_template("index.html.j2").render(
        rows=rows, filters=_filters(rows), root="", page="index", **common)
    for relative, text in pages.items():  # the index last: it links to everything else
        site.files[relative] = _write(folder, relative, text)
    site.seconds = time.perf_counter() - started
    return site


# --- rows --------------------------------------------------------------------------------------

def index_row(entry: Entry) -> dict[str, Any]:
    """`zoo list`'s row (report.list_row) with what the index adds: licence, KV cache per
    token, and the reported figure's difference as `zoo verify` computes it."""
    spec = entry.spec
    row = list_row(spec)
    check = check_reported(spec)
    kv = count_params(spec).kv_cache_bytes(1, "bf16")
    text = " ".join(filter(None, (spec.name, spec.family, spec.title, spec.org, *spec.aliases)))
    return {**row, "page": entry.page, "added": entry.added, "license": spec.license or "-",
            "moe": spec.moe, "kv_per_token": kv, "kv_human": human_bytes(kv),
            "params_human": human_count(row["params"]), "active_human": human_count(row["active"]),
            "reported_text": reported_figure(spec), "source": spec.reported.source
            if spec.reported else "", "difference": check.relative_difference,
            "status": check.status, "search": text.lower()}


def model_page(entry: Entry) -> dict[str, Any]:
    """Everything `zoo show NAME --layers` says (the same rows), the breakdown as chart bars,
    the conventions named, and the planner's inputs."""
    spec = entry.spec
    count = count_params(spec)
    bars = []
    for name in COMPONENTS:
        value = count.components[name]
        if value == 0 or (name in MOE_COMPONENTS and not spec.moe):
            continue
        segment = SEGMENTS[name]
        bars.append({"label": name.replace("_", " "), "value": value,
                     "human": human_count(value), "share": 100 * value / count.total,
                     "color": COLORS[segment]})
    widest = max((b["value"] for b in bars), default=1)
    for bar in bars:
        bar["width"] = bar["value"] / widest
    return {"name": spec.name, "page": entry.page, "added": entry.added, "how": entry.how,
            "title": spec.title, "family": spec.family, "year": spec.year,
            "total": count.total, "total_human": human_count(count.total), "moe": spec.moe,
            "tier": tier(spec), "part_of": spec.part_of,
            "architecture": architecture_rows(spec), "provenance": _provenance(spec),
            "components": component_rows(count), "bars": bars,
            "summary": summary_rows(count), "notes": spec_notes(spec),
            "active": [{"name": name, "value": value, "human": human_count(value),
                        "what": what, "used": used}
                       for name, value, what, used in active_convention_rows(count)],
            "layer_headers": LAYER_HEADERS, "layers": layer_rows(count),
            "conventions": [("non-embedding", NON_EMBEDDING_CONVENTION),
                            ("weights", WEIGHT_BYTES_CONVENTION),
                            ("FLOPs", FLOPS_CONVENTION),
                            ("training memory", TRAINING_MEMORY_CONVENTION),
                            *([("recurrent state", RECURRENT_STATE_CONVENTION)]
                              if spec.has_linear else [])],
            "weights": [(dtype, human_bytes(count.weight_bytes(dtype)),
                         count.weight_bytes(dtype)) for dtype in DTYPE_BYTES],
            "context": spec.context_length, "headers": _headers(entry.counted),
            "plan": _script_json(planner_inputs(spec, entry.added or spec.name))}


def _provenance(spec: ModelSpec) -> list[tuple[str, str, str | None]]:
    """`zoo show`'s provenance rows, each with a link where one helps (the weights' Hub page,
    an arXiv paper), and a registry spec file named as it is in the repository, not by where
    this machine keeps it."""
    packaged = packaged_specs_dir()
    rows = []
    for key, value in provenance_rows(spec):
        url = None
        if key == "weights" and spec.weights.hf and value == spec.weights.hf:
            url = f"https://huggingface.co/{spec.weights.hf}"
        elif key == "paper" and (arxiv := re.search(r"arXiv (\d{4}\.\d{4,5})", value)):
            url = f"https://arxiv.org/abs/{arxiv[1]}"
        elif key == "spec file" and spec.source_file and \
                Path(spec.source_file).resolve().parent == packaged.resolve():
            value = f"specs/{Path(spec.source_file).name}"
        rows.append((key, value, url))
    return rows


def _headers(counted: Any) -> dict[str, Any] | None:
    """What `zoo show FILE` adds for weights: the headers' count by component and by stored
    dtype, and its check against the closed form (the same rows)."""
    if counted is None or counted.headers is None:
        return None
    return {"source": counted.headers.source, "components": header_component_rows(
        counted.headers), "dtypes": dtype_rows(counted.headers),
        "lines": [line for line in (unclassified_line(counted.headers),
                                    header_check_line(counted)) if line]}


def planner_inputs(spec: ModelSpec, name: str) -> dict[str, Any]:
    """What the page's planner computes from: `plan_inputs`, and the same under the
    alternative of each value the spec assumes (the caveats `zoo plan` names)."""
    return {"name": spec.name, "cli_name": name, "inputs": plan_inputs(spec),
            "assumptions": [{"field": a.field, "assumed": a.value, "text": str(a.value),
                             "alternative": a.alternative,
                             "inputs": None if a.alternative_spec is None
                             else plan_inputs(a.alternative_spec)}
                            for a in assumptions(spec)]}


def compare_entry(entry: Entry) -> dict[str, Any]:
    """One model for the compare page: `zoo compare`'s facts (report.compare_facts), and what
    its pictures draw (segments as `zoo plot breakdown` groups them)."""
    spec = entry.spec
    count = count_params(spec)
    segments: dict[str, int] = {}
    for name, value in count.components.items():
        segments[SEGMENTS[name]] = segments.get(SEGMENTS[name], 0) + value
    return {"name": spec.name, "page": entry.page, "family": spec.family, "year": spec.year,
            "total": count.total, "human": human_count(count.total),
            "shares": {k: 100 * v / count.total for k, v in segments.items()},
            "facts": compare_facts(spec)}


def _filters(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"families": sorted({r["family"] for r in rows}),
            "years": sorted({r["year"] for r in rows if r["year"]}),
            "licenses": sorted({r["license"] for r in rows}),
            "sizes": SIZE_STEPS, "colors": COLORS}


def _added(paths: Iterable[str | os.PathLike[str]], taken: set[str]) -> list[Entry]:
    """A page for each file the user points at, named after its model (a second page of one
    name is told apart by a suffix)."""
    from zoo.checkpoints.counted import count_target

    entries = []
    for path in paths:
        counted = count_target(path)
        if counted.spec is None or counted.resolved is None:
            raise ValueError(f"{path}: {counted.what}; a page needs the architecture "
                             f"(`zoo show {path}` gives what the headers count)")
        spec = counted.resolved.spec
        page, n = slug(spec.name, "model"), 1
        while page in taken:
            n += 1
            page = f"{slug(spec.name, 'model')}-added" + ("" if n == 2 else f"-{n - 1}")
        taken.add(page)
        entries.append(Entry(spec, page, str(path), counted.resolved.describe(), counted))
    return entries


# --- writing -----------------------------------------------------------------------------------

def _environment() -> Any:
    try:
        import jinja2
    except ModuleNotFoundError as err:
        from zoo.errors import missing_extra

        raise missing_extra(err, "site", "zoo site") from None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["thousands"] = lambda n: f"{n:,}"
    return env


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element (no '</' to end it early)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _folder(out: str | os.PathLike[str]) -> Path:
    """The site's folder: made if its parent exists, refused if that does not (as `zoo plot`
    refuses it) or if it is a file."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: is a file; give a folder for the site")
    if not folder.exists():
        if not folder.absolute().parent.is_dir():
            raise ValueError(f"{folder}: folder {folder.parent} does not exist; create it first")
        folder.mkdir()
    return folder


def _write(folder: Path, relative: str, text: str) -> int:
    """One file of the site, replaced whole (`replace_file`): a reader sees the previous page
    or this one, never a part. Only inside `folder`: a link
    there pointing elsewhere is refused."""
    target = folder / relative
    target.parent.mkdir(exist_ok=True)
    if not target.parent.resolve().is_relative_to(folder.resolve()) or target.is_symlink():
        raise ValueError(f"{target}: leads outside {folder}; the site writes only inside it")
    data = text.encode()
    replace_file(target, data)
    return len(data)
