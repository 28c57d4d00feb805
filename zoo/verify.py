"""Checks of figures against the closed form: each spec's reported count, and a user's claims.

A reported figure that differs from the exact count is not an error in the spec, it is a fact
about the source (papers round, and some miscount), so it is flagged, never hidden. A spec is
*inconsistent* when it contradicts itself: its attention width (n_head x d_head) differs from
d_model, as two rows of the GPT-3 paper's Table 2.1 do, or its rotary fraction does not give a
whole number of dimensions.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.accounting import count_params
from zoo.registry import UnknownModelError, get_spec, read_yaml
from zoo.spec import ModelSpec, SpecError, describe
from zoo.units import parse_count

DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True)
class ReportedCheck:
    name: str
    exact: int
    reported: int | None
    source: str
    relative_difference: float | None
    status: str  # ok | flagged | inconsistent | no figure
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "exact": self.exact, "reported": self.reported,
                "source": self.source, "relative_difference": self.relative_difference,
                "status": self.status, "problems": list(self.problems)}


def inconsistencies(spec: ModelSpec) -> list[str]:
    problems = []
    if spec.q_dim != spec.d_model:
        problems.append(f"n_head x d_head = {spec.n_head} x {spec.head_dim} = {spec.q_dim}, "
                        f"not d_model {spec.d_model}")
    if spec.position == "rotary" and spec.head_dim * spec.rotary_fraction != spec.rotary_dim:
        problems.append(f"rotary_fraction {spec.rotary_fraction} of d_head {spec.head_dim} is "
                        f"not a whole number of dimensions")
    return problems


def check_reported(spec: ModelSpec, tolerance: float = DEFAULT_TOLERANCE) -> ReportedCheck:
    exact = count_params(spec).total
    problems = inconsistencies(spec)
    reported = spec.reported
    if reported is None:
        return ReportedCheck(spec.name, exact, None, "-", None,
                             "inconsistent" if problems else "no figure", tuple(problems))
    difference = exact / reported.params - 1
    allowed = 0.0 if reported.exact else tolerance
    status = "inconsistent" if problems else ("ok" if abs(difference) <= allowed else "flagged")
    return ReportedCheck(spec.name, exact, reported.params, reported.source, difference, status,
                         tuple(problems))


# --- third-party claims -------------------------------------------------------------------

def _value_of(attribute: str) -> Callable[[ModelSpec], int]:
    return lambda spec: getattr(spec, attribute)


CLAIM_FIELDS: dict[str, Callable[[ModelSpec], int]] = {
    "params": lambda spec: count_params(spec).total,
    "n_layer": _value_of("n_layer"), "d_model": _value_of("d_model"),
    "n_head": _value_of("n_head"), "n_kv_head": _value_of("kv_heads"),
    "d_head": _value_of("head_dim"), "d_ff": _value_of("d_ff"),
    "vocab_size": _value_of("vocab_size"), "context_length": _value_of("context_length"),
}
CLAIM_ALIASES = {
    "parameters": "params", "n_params": "params", "num_params": "params", "size": "params",
    "layers": "n_layer", "n_layers": "n_layer", "num_layers": "n_layer", "depth": "n_layer",
    "hidden": "d_model", "hidden_size": "d_model", "width": "d_model", "dim": "d_model",
    "n_embd": "d_model", "heads": "n_head", "n_heads": "n_head", "num_heads": "n_head",
    "kv_heads": "n_kv_head", "n_kv_heads": "n_kv_head", "head_dim": "d_head",
    "ffn": "d_ff", "d_ffn": "d_ff", "ffn_dim": "d_ff", "intermediate_size": "d_ff",
    "vocab": "vocab_size", "n_vocab": "vocab_size", "context": "context_length",
    "ctx": "context_length", "n_ctx": "context_length", "max_position_embeddings":
    "context_length",
}
NAME_COLUMNS = ("name", "model")


@dataclass(frozen=True)
class ClaimCheck:
    model: str
    field: str
    claimed: str
    zoo: str
    verdict: str  # ok | WRONG | unknown model
    line: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "field": self.field, "claimed": self.claimed,
                "zoo": self.zoo, "verdict": self.verdict, "line": self.line,
                "detail": self.detail}


@dataclass
class ClaimsReport:
    checks: list[ClaimCheck] = field(default_factory=list)

    @property
    def failed(self) -> list[ClaimCheck]:
        return [c for c in self.checks if c.verdict != "ok"]


def read_claims(path: str | Path) -> list[tuple[int | None, dict[str, Any]]]:
    """Rows of (line, {column: value}) from a CSV file or a YAML list / mapping of claims."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as err:
            raise SpecError(f"cannot read claims file: {err}", file=str(path)) from None
        dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
        reader = csv.DictReader(io.StringIO(text), dialect=dialect)
        if not reader.fieldnames:
            raise SpecError("empty claims file: expected a header row", file=str(path))
        return [(reader.line_num, {k.strip(): v for k, v in row.items() if k is not None})
                for row in reader]
    doc = read_yaml(path)
    if isinstance(doc, Mapping) and "claims" in doc:
        doc = doc["claims"]
    if isinstance(doc, Mapping):  # name: {field: value}
        doc = [{"name": name, **(row if isinstance(row, Mapping) else {"params": row})}
               for name, row in doc.items()]
    if not isinstance(doc, list) or not all(isinstance(row, Mapping) for row in doc):
        raise SpecError("expected a list of claims (mappings with 'name' and fields), or a "
                        "mapping of model name to its claimed fields", file=str(path))
    return [(getattr(row, "line", None), dict(row)) for row in doc]


def _canonical_column(column: str, file: str, line: int | None) -> str | None:
    key = column.strip().lower().replace(" ", "_").replace("-", "_")
    if key in NAME_COLUMNS or key in ("source", "notes", "note", "comment", "year", "family"):
        return None
    key = CLAIM_ALIASES.get(key, key)
    if key not in CLAIM_FIELDS:
        known = sorted({*CLAIM_FIELDS, *CLAIM_ALIASES})
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(f"unknown claim column {column!r}{hint}; zoo checks "
                        f"{', '.join(CLAIM_FIELDS)}", file=file, line=line)
    return key


def check_claims(path: str | Path, tolerance: float = DEFAULT_TOLERANCE) -> ClaimsReport:
    """Every claimed figure against the zoo: integers exactly, params within `tolerance`."""
    report = ClaimsReport()
    file = str(path)
    for line, row in read_claims(path):
        name = next((str(row[k]).strip() for k in row if str(k).strip().lower() in NAME_COLUMNS
                     and row[k] not in (None, "")), None)
        if name is None:
            raise SpecError("a claim has no 'name' (or 'model') column", file=file, line=line)
        try:
            spec = get_spec(name)
        except UnknownModelError as err:
            report.checks.append(ClaimCheck(name, "-", "-", "-", "unknown model", line, str(err)))
            continue
        for column, value in row.items():
            key = _canonical_column(str(column), file, line)
            if key is None or value in (None, ""):
                continue
            report.checks.append(_check_one(spec, name, key, value, tolerance, file, line))
    return report


def _check_one(spec: ModelSpec, name: str, key: str, value: Any, tolerance: float, file: str,
               line: int | None) -> ClaimCheck:
    try:
        claimed = parse_count(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise SpecError(f"claimed {key} {describe(value)} is not a number", file=file,
                        line=line) from None
    actual = CLAIM_FIELDS[key](spec)
    if key == "params":
        difference = claimed / actual - 1
        ok = abs(difference) <= tolerance
        detail = f"{difference:+.1%} from the exact count"
        return ClaimCheck(name, key, str(value), f"{actual:,}", "ok" if ok else "WRONG", line,
                          detail)
    return ClaimCheck(name, key, str(value), str(actual), "ok" if claimed == actual else "WRONG",
                      line)
