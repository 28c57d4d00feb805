"""Which of transformers' causal-LM types zoo counts exactly, builds, or refuses.

`python tools/type_coverage.py --measure` builds every type of transformers' own
`MODEL_FOR_CAUSAL_LM_MAPPING_NAMES` from its config class's defaults on the meta device (a
minute or two) and writes each default config.json with transformers' count to
tests/data/causal_lm_counts.json. `render()` (the README's coverage table, through
tools/readme_table.py) reads that file and counts each config with zoo, with no torch: so the
table follows zoo's table of architectures, and tests/test_docs.py fails when it is stale.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from zoo.accounting import count_params
from zoo.architectures import UnsupportedConfigError, spec_from_config
from zoo.spec import SpecError

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "causal_lm_counts.json"


def measure() -> dict[str, Any]:
    """transformers' own count of each causal-LM type's default config (meta device)."""
    import warnings

    import torch
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    types: dict[str, Any] = {}
    for model_type, class_name in sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.items()):
        row: dict[str, Any] = {"class": class_name}
        try:
            config = transformers.CONFIG_MAPPING[model_type]()
            written = {**config.to_diff_dict(), "model_type": model_type}
            written.pop("transformers_version", None)
            row["config"] = json.loads(json.dumps(written, default=str))
            with torch.device("meta"):
                model = transformers.AutoModelForCausalLM.from_config(config)
            row["transformers"] = sum(p.numel() for p in model.parameters())
        except Exception as err:  # transformers cannot build it from its defaults
            row["transformers_error"] = f"{type(err).__name__}: {err}".splitlines()[0][:120]
        types[model_type] = row
    return {"transformers": transformers.__version__, "types": types}


def status(row: dict[str, Any]) -> tuple[str, str]:
    """(status, detail): exact and built / exact, counted only / refused / wrong / not
    buildable by transformers from its defaults."""
    if "transformers" not in row:
        return "transformers cannot build its defaults", row.get("transformers_error", "")
    try:
        spec = spec_from_config(row["config"])
        total = count_params(spec).total
    except (UnsupportedConfigError, SpecError) as err:
        return "refused", str(err).split(";")[0]
    whole = total + (spec.rest_params or 0)  # a wrapper's towers, where zoo counts them
    if whole == row["transformers"] != total:
        state = "exact, counted only" if spec.counted_only else "exact, built"
        return state, (f"whole checkpoint: the text decoder ({total:,}, "
                       f"{'counted' if spec.counted_only else 'built'}) and the rest "
                       f"({spec.rest_params:,}, counted)")
    if total != row["transformers"] and spec.part_of:  # a part, and said to be one
        return "text decoder only (said)", f"zoo {total:,}: {spec.part_of}"
    if total != row["transformers"]:
        return "wrong", f"zoo {total:,}"
    return ("exact, counted only", spec.counted_only) if spec.counted_only \
        else ("exact, built", "")


def render() -> str:
    data = json.loads(DATA.read_text())
    rows = {model_type: status(row) for model_type, row in data["types"].items()}
    tally = Counter(s for s, _ in rows.values())
    buildable = len(rows) - tally["transformers cannot build its defaults"]
    exact = tally["exact, built"] + tally["exact, counted only"]
    lines = [f"transformers {data['transformers']}: {len(rows)} causal-LM types, {buildable} "
             f"built from their default config. zoo counts **{exact}** of those exactly "
             f"({tally['exact, built']} built, {tally['exact, counted only']} counted only), "
             f"counts {tally['text decoder only (said)']} as its text decoder only (saying so "
             f"wherever the figure is shown), refuses {tally['refused']}, and gets "
             f"{tally['wrong']} wrong.", "",
             "| model_type | class | transformers' count | zoo | detail |", "|---|---|---|---|---|"]
    for model_type, row in data["types"].items():
        state, detail = rows[model_type]
        count = f"{row['transformers']:,}" if "transformers" in row else "-"
        detail = detail.replace("|", "/")
        lines.append(f"| {model_type} | {row['class']} | {count} | {state} | {detail} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--measure", action="store_true",
                        help=f"rebuild {DATA.name} with transformers (a minute or two)")
    args = parser.parse_args()
    if args.measure:
        DATA.write_text(json.dumps(measure(), indent=1, sort_keys=True) + "\n")
    print(render())


if __name__ == "__main__":
    main()
