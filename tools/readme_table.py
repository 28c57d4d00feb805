"""The README's generated tables: the models (from the registry), the spec fields (from the
fields' own metadata) and transformers' causal-LM types zoo counts (tools/type_coverage.py).
tests/test_docs.py fails when the README is out of date.
Usage: python tools/readme_table.py [--check]"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import type_coverage

import zoo
from zoo.report import reported_figure
from zoo.spec import field_table

README = Path(__file__).resolve().parents[1] / "README.md"


def render() -> str:
    """Every model with its exact count and reported figure."""
    lines = ["| model | family | year | layers | d_model | heads (kv) | d_ff | context | vocab "
             "| exact params | reported | source |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in zoo.list_models():
        spec, count = zoo.get_spec(name), zoo.count_params(name)
        heads = f"{spec.n_head}" + (f" ({spec.kv_heads})" if spec.kv_heads != spec.n_head
                                    else "")
        source = spec.reported.source.replace("|", "/") if spec.reported else "-"
        lines.append(f"| {name} | {spec.family} | {spec.year or '-'} | {spec.n_layer} | "
                     f"{spec.d_model} | {heads} | {spec.d_ff} | {spec.context_length} | "
                     f"{spec.vocab_size} | {count.total:,} | {reported_figure(spec)} | "
                     f"{source} |")
    return "\n".join(lines)


def render_fields() -> str:
    """Every spec field: what it is for, its default and its meaning."""
    lines = ["| field | role | default | meaning |", "|---|---|---|---|"]
    for name, role, default, doc in field_table():
        lines.append(f"| `{name}` | {role} | {default} | {doc.replace('|', '/')} |")
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {"models": render, "fields": render_fields,
                                         "coverage": type_coverage.render}


def updated(text: str) -> str:
    for block, render_block in BLOCKS.items():
        start, end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
        if start not in text or end not in text:
            raise SystemExit(f"{README}: no {start} ... {end} block to fill")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{render_block()}\n{end}{tail}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args()
    text = README.read_text()
    new = updated(text)
    if args.check:
        if new != text:
            print("README.md's generated tables are out of date: run python tools/readme_table.py")
            sys.exit(1)
        return
    README.write_text(new)


if __name__ == "__main__":
    main()
