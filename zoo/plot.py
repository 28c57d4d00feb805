"""Pictures of the registry: scale over the years, where the parameters sit, what memory takes;
and the loss curve of a fine-tuning run.

matplotlib is an optional extra (`pip install 'zoo[plot]'`); every function returns the Figure
(drawn with the headless Agg backend) and its data, so tests and scripts can check what was
drawn, and `save` writes PNG or SVG by the file's suffix.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.accounting import caveated, caveats, count_params, resting_on
from zoo.accounting.catalog import list_models
from zoo.files.folder import replace_file
from zoo.registry import get_spec
from zoo.spec import ModelSpec
from zoo.units import human_bytes

SEGMENTS = ("embeddings", "attention", "mlp", "experts", "norms", "head", "extras")
SEGMENT_COLORS = {"embeddings": "#4c72b0", "attention": "#dd8452", "mlp": "#55a868",
                  "experts": "#64b5cd", "norms": "#c44e52", "head": "#8172b3",
                  "extras": "#937860"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError("zoo plot needs matplotlib: pip install 'zoo[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _specs(names: Sequence[str] | None) -> list[ModelSpec]:
    return [get_spec(n) for n in (names or list_models())]


def shares(spec: ModelSpec) -> dict[str, float]:
    """Percent of the parameters in each segment (embeddings = token + position; experts =
    a mixture's router, routed and shared experts)."""
    c = count_params(spec)
    parts = {"embeddings": c.token_embedding + c.position_embedding, "attention": c.attention,
             "mlp": c.mlp, "experts": c.router + c.experts + c.shared_experts,
             "norms": c.norms, "head": c.head, "extras": c.extras}
    return {k: 100 * v / c.total for k, v in parts.items()}


def scale(names: Sequence[str] | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """Exact parameters (log scale) against year, one point per model, coloured by family."""
    plt = _pyplot()
    specs = [s for s in _specs(names) if s.year]
    families = sorted({s.family for s in specs})
    colors = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(14, 8.5))
    points = []
    # spread the families of one year across it, so their points and labels stay apart
    offsets = {}
    for year in sorted({s.year for s in specs}):
        present = sorted({s.family for s in specs if s.year == year})
        for j, family in enumerate(present):
            offsets[family, year] = 0.8 * (j - (len(present) - 1) / 2) / max(1, len(present))
    for i, family in enumerate(families):
        members = sorted((s for s in specs if s.family == family),
                         key=lambda s: count_params(s).total)
        color = colors(i % 20)
        xs = [s.year + offsets[family, s.year] for s in members]
        totals = [count_params(s).total for s in members]
        # 20 colours: families past them take another marker
        ax.scatter(xs, totals, s=36, color=color, marker="osD^v"[(i // 20) % 5], label=family,
                   zorder=3)
        labels: dict[tuple[float, int], list[str]] = {}
        for spec, x, y in zip(members, xs, totals, strict=True):
            labels.setdefault((x, y), []).append(spec.name)  # same size: one label
            points.append({"name": spec.name, "family": family, "year": spec.year,
                           "params": y})
        for (x, y), names_here in labels.items():
            ax.annotate(" / ".join(names_here), (x, y), xytext=(4, 2),
                        textcoords="offset points", fontsize=6.5, color=color)
    ax.set_yscale("log")
    ax.set_xlabel("year")
    ax.set_ylabel("parameters (exact, log scale)")
    ax.set_title("Decoder-only language models in the zoo: size against year")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    fig.tight_layout()
    return fig, points


def breakdown(names: Sequence[str]) -> tuple[Any, list[dict[str, Any]]]:
    """Stacked bars: the share of embeddings, attention, MLP, norms and head in each model."""
    plt = _pyplot()
    specs = _specs(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(specs) + 2), 6))
    rows = [{"name": s.name, **shares(s)} for s in specs]
    bottoms = [0.0] * len(specs)
    for segment in SEGMENTS:
        values = [row[segment] for row in rows]
        if not any(values):
            continue
        ax.bar([r["name"] for r in rows], values, bottom=bottoms, label=segment,
               color=SEGMENT_COLORS[segment])
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for x, row in enumerate(rows):  # the embedding share, inside its segment or just above
        inside = row["embeddings"] > 4
        ax.text(x, row["embeddings"] / 2 if inside else row["embeddings"] + 0.5,
                f"embeddings\n{row['embeddings']:.1f}%", ha="center",
                va="center" if inside else "bottom", fontsize=7,
                color="white" if inside else "black")
    ax.set_ylabel("share of parameters (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Where the parameters are")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig, rows


MEMORY_BARS = ("weights fp32", "weights bf16", "weights int8", "weights int4",
               "KV cache at full context (bf16)", "training state (Adam, mixed precision)")


def memory_figures(spec: ModelSpec) -> dict[str, int]:
    """Bytes per bar of `memory`, for one model."""
    c = count_params(spec)
    values = [c.weight_bytes(d) for d in ("fp32", "bf16", "int8", "int4")]
    values += [c.kv_cache_bytes(spec.context_length, "bf16"), c.training_memory()["total"]]
    return dict(zip(MEMORY_BARS, values, strict=True))


def memory(names: Sequence[str]) -> tuple[Any, list[dict[str, Any]]]:
    """Grouped bars per model: weights per dtype, KV cache at full context, training state; a
    bar that rests on an assumed value (GPT-3's KV cache) is footnoted with its alternative."""
    plt = _pyplot()
    specs = _specs(names)
    rows = [{"name": spec.name, **memory_figures(spec),
             "caveats": caveats(spec, memory_figures)} for spec in specs]
    footnotes = [f"{spec.name}, {bar}: {caveated(spec, figure, human_bytes)}"
                 for spec in specs for bar in MEMORY_BARS
                 for figure in [lambda s, b=bar: memory_figures(s)[b]]
                 if resting_on(spec, figure)]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(specs) + 2), 6))
    width = 0.8 / len(MEMORY_BARS)
    colors = plt.get_cmap("viridis")
    for i, bar in enumerate(MEMORY_BARS):
        xs = [x + (i - (len(MEMORY_BARS) - 1) / 2) * width for x in range(len(rows))]
        ax.bar(xs, [row[bar] / 1e9 for row in rows], width=width, label=bar,
               color=colors(i / (len(MEMORY_BARS) - 1)))
    ax.set_xticks(range(len(rows)), [row["name"] for row in rows], rotation=30)
    ax.set_yscale("log")
    ax.set_ylabel("GB (log scale)")
    ax.set_title("Memory: weights per dtype, KV cache at full context, training state")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    if footnotes:
        fig.text(0.01, 0.01, "\n".join(footnotes), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.03 * len(footnotes), 1, 1))
    return fig, rows


def loss_curve(history: Sequence[Mapping[str, float]], title: str = "fine-tuning loss"
               ) -> tuple[Any, list[dict[str, float]]]:
    """Training loss per step (thin), its running mean over 10 steps (thick), and, when the
    run backed off teacher forcing, the scheduled-sampling rate on a second axis.

    `history` holds one mapping per optimizer step: step, loss and optionally sampling_rate.
    """
    plt = _pyplot()
    steps = [row["step"] for row in history]
    losses = [row["loss"] for row in history]
    smooth = [sum(losses[max(0, i - 9):i + 1]) / len(losses[max(0, i - 9):i + 1])
              for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps, losses, color="#4c72b0", alpha=0.35, linewidth=1, label="loss")
    ax.plot(steps, smooth, color="#4c72b0", linewidth=2.2, label="running mean (10 steps)")
    ax.set_xlabel("step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    rates = [row.get("sampling_rate", 0.0) for row in history]
    if any(rates):
        twin = ax.twinx()
        twin.plot(steps, rates, color="#dd8452", linestyle="--", label="sampling rate")
        twin.set_ylabel("scheduled-sampling rate")
        twin.set_ylim(0, 1)
        twin.legend(loc="upper center", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig, [{"step": s, "loss": v, "running_mean": m}
                 for s, v, m in zip(steps, losses, smooth, strict=True)]


def save(fig: Any, out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"{out}: plots are written as .png or .svg")
    if not out.parent.is_dir():
        raise ValueError(f"{out}: folder {out.parent} does not exist; create it first")
    if out.is_dir():
        raise ValueError(f"{out}: is a folder; give a .png or .svg file name")
    image = io.BytesIO()
    try:
        fig.savefig(image, dpi=130, format=out.suffix.lower()[1:])
    finally:
        _pyplot().close(fig)
    return replace_file(out, image.getvalue())  # whole, and never through a planted link
