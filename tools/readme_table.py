"""The README's model table, generated from the registry (tests/test_docs.py fails when the
README is out of date). Usage: python tools/readme_table.py [--check]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import zoo
from zoo.units import human_count

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- models:start -->", "<!-- models:end -->"


def render() -> str:
    lines = ["| model | family | year | layers | d_model | heads (kv) | d_ff | context | vocab "
             "| exact params | reported | source |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in zoo.list_models():
        spec, count = zoo.get_spec(name), zoo.count_params(name)
        heads = f"{spec.n_head}" + (f" ({spec.kv_heads})" if spec.kv_heads != spec.n_head
                                    else "")
        reported = spec.reported
        figure = "-" if reported is None else (
            f"{reported.params:,}" if reported.exact else human_count(reported.params))
        source = reported.source.replace("|", "/") if reported else "-"
        lines.append(f"| {name} | {spec.family} | {spec.year or '-'} | {spec.n_layer} | "
                     f"{spec.d_model} | {heads} | {spec.d_ff} | {spec.context_length} | "
                     f"{spec.vocab_size} | {count.total:,} | {figure} | {source} |")
    return "\n".join(lines)


def updated(text: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"{README}: no {START} ... {END} block to fill")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render()}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args()
    text = README.read_text()
    new = updated(text)
    if args.check:
        if new != text:
            print("README.md's model table is out of date: run python tools/readme_table.py")
            sys.exit(1)
        return
    README.write_text(new)


if __name__ == "__main__":
    main()
