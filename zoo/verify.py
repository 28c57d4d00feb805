"""Checks of figures against the closed form: each spec's reported count, and a user's claims.

A reported figure that differs from the exact count is not an error in the spec, it is a fact
about the source (papers round, and some miscount), so it is flagged, never hidden. A spec is
*inconsistent* when it contradicts itself: its figures break a relation its source asserts (two
rows of the GPT-3 paper's Table 2.1 give an attention width n_head x d_head other than d_model
in what the paper calls GPT-2's architecture), or its rotary fraction does not give a whole
number of dimensions.
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
from zoo.accounting.catalog import families, list_models
from zoo.fields import describe
from zoo.files.errors import WeightsError, read_regular
from zoo.registry import UnknownModelError, get_spec, read_yaml
from zoo.spec import ModelSpec, SpecError
from zoo.units import parse_count

DEFAULT_TOLERANCE = 0.05


DIFFERENCE_CONVENTION = (
    "the stated figure (reported or claimed) minus zoo's exact value, negative when the source "
    "states less than the model has; a relative difference divides it by zoo's exact value")


@dataclass(frozen=True)
class ReportedCheck:
    name: str
    exact: int
    reported: int | None
    source: str
    status: str  # ok | flagged | inconsistent | no figure
    problems: tuple[str, ...] = ()
    # mixtures of experts: the active count under the convention the source uses, and its figure
    active_exact: int | None = None
    active_reported: int | None = None
    active_convention: str | None = None

    @property
    def difference(self) -> int | None:
        """See DIFFERENCE_CONVENTION."""
        return None if self.reported is None else self.reported - self.exact

    @property
    def relative_difference(self) -> float | None:
        return None if self.reported is None else self.reported / self.exact - 1

    @property
    def active_relative_difference(self) -> float | None:
        if self.active_reported is None or self.active_exact is None:
            return None
        return self.active_reported / self.active_exact - 1

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "exact": self.exact, "reported": self.reported,
               "source": self.source, "difference": self.difference,
               "relative_difference": self.relative_difference, "status": self.status,
               "problems": list(self.problems)}
        if self.active_exact is not None:
            out["active"] = {
                "exact": self.active_exact, "reported": self.active_reported,
                "convention": self.active_convention,
                "difference": None if self.active_reported is None
                else self.active_reported - self.active_exact,
                "relative_difference": self.active_relative_difference}
        return out


# what each assertion a source can make means, and how a spec breaks it
ASSERTIONS: dict[str, Callable[[ModelSpec], str | None]] = {
    "attention_width_is_d_model": lambda s: None if s.q_dim == s.d_model else (
        f"n_head x d_head = {s.n_head} x {s.head_dim} = {s.q_dim}, not d_model {s.d_model}"),
}


def inconsistencies(spec: ModelSpec) -> list[str]:
    """Where a spec contradicts itself: a relation its source asserts that its own figures
    break (GPT-3's Table 2.1 rows for XL and 13B), or a rotary fraction that is no whole
    number of dimensions. Head widths independent of d_model are not one: Gemma, Qwen3 and
    others state them on purpose."""
    problems = [p for p in (ASSERTIONS[name](spec) for name in spec.asserts) if p]
    if spec.rotary and spec.d_head_rope is None and \
            spec.head_dim * spec.rotary_fraction != spec.rotary_dim:
        problems.append(f"rotary_fraction {spec.rotary_fraction} of d_head {spec.head_dim} is "
                        f"not a whole number of dimensions")
    return problems


def check_reported(spec: ModelSpec, tolerance: float = DEFAULT_TOLERANCE) -> ReportedCheck:
    """The exact count against the reported one; for a mixture of experts also the active
    count (under the convention the source states) against its active figure."""
    count = count_params(spec)
    exact = count.total
    problems = inconsistencies(spec)
    reported = spec.reported
    active: dict[str, Any] = {}
    if spec.moe:
        convention = (reported.active_convention if reported else None) or "all"
        active = {"active_exact": count.active_by(convention), "active_convention": convention,
                  "active_reported": reported.active if reported else None}
    if reported is None:
        return ReportedCheck(spec.name, exact, None, "-",
                             "inconsistent" if problems else "no figure", tuple(problems),
                             **active)
    allowed = 0.0 if reported.exact else tolerance
    agrees = _within(reported.params, exact, allowed)
    if active.get("active_reported") is not None:
        agrees = agrees and _within(active["active_reported"], active["active_exact"], allowed)
    status = "inconsistent" if problems else ("ok" if agrees else "flagged")
    return ReportedCheck(spec.name, exact, reported.params, reported.source, status,
                         tuple(problems), **active)


def _within(stated: int, exact: int, tolerance: float) -> bool:
    return abs(stated / exact - 1) <= tolerance


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
# within tolerance for rounded parameter counts, exactly for everything else
TOLERATED = ("params",)
NAME_COLUMNS = ("name", "model")
NOTE_COLUMNS = ("source", "notes", "note", "comment", "year", "family")  # read, not checked


@dataclass(frozen=True)
class Claim:
    """One claimed figure and where it stands: `column` is the cell's number in a CSV row, the
    character column of the value in YAML (both from 1)."""

    field: str  # zoo's name for it
    heading: str  # the column as the file spells it
    written: str  # the value as written
    value: int
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class ClaimRow:
    name: str  # as written
    line: int | None
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class Resolution:
    """Which model a row's name stands for, and why (see `resolve`)."""

    written: str
    spec: ModelSpec | None  # None: unresolved
    family: str | None = None  # set when the name was read as a family's
    considered: tuple[str, ...] = ()
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"by": "family" if self.family else "name", "family": self.family,
                "considered": list(self.considered), "why": self.why}


@dataclass(frozen=True)
class ClaimCheck:
    claim: Claim
    zoo: int | None  # None: the row's model is unresolved
    verdict: str  # ok | WRONG | unresolved

    @property
    def difference(self) -> int | None:
        """See DIFFERENCE_CONVENTION."""
        return None if self.zoo is None else self.claim.value - self.zoo

    @property
    def relative_difference(self) -> float | None:
        return None if not self.zoo else self.claim.value / self.zoo - 1

    def to_dict(self) -> dict[str, Any]:
        c = self.claim
        return {"field": c.field, "heading": c.heading, "written": c.written,
                "claimed": c.value, "zoo": self.zoo, "difference": self.difference,
                "relative_difference": self.relative_difference, "verdict": self.verdict,
                "line": c.line, "column": c.column}


@dataclass(frozen=True)
class RowCheck:
    row: ClaimRow
    resolution: Resolution
    checks: tuple[ClaimCheck, ...]

    @property
    def model(self) -> str | None:
        return self.resolution.spec.name if self.resolution.spec else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.row.name, "line": self.row.line, "model": self.model,
                "resolution": self.resolution.to_dict()}


@dataclass
class ClaimsReport:
    file: str
    rows: list[RowCheck] = field(default_factory=list)

    @property
    def checks(self) -> list[ClaimCheck]:
        return [check for row in self.rows for check in row.checks]

    @property
    def wrong(self) -> list[ClaimCheck]:
        return [c for c in self.checks if c.verdict == "WRONG"]

    @property
    def unresolved(self) -> list[RowCheck]:
        return [row for row in self.rows if row.resolution.spec is None]

    @property
    def failed(self) -> bool:
        return bool(self.wrong or self.unresolved)

    def to_dict(self) -> dict[str, Any]:
        """Every claim (with its row's name as written and the model it resolved to), every
        row's resolution, and the tally."""
        checks = [{"name": row.row.name, "model": row.model, **check.to_dict()}
                  for row in self.rows for check in row.checks]
        return {"file": self.file, "claims": checks,
                "rows": [row.to_dict() for row in self.rows],
                "hold": sum(c["verdict"] == "ok" for c in checks), "wrong": len(self.wrong),
                "unresolved_rows": len(self.unresolved),
                "difference_convention": DIFFERENCE_CONVENTION}


def read_claims(path: str | Path) -> list[ClaimRow]:
    """The rows of a CSV (TSV) file, or of a YAML list / mapping of claims, every value checked
    now: a malformed or negative number, an unknown column or a cell beyond the header is a
    SpecError naming the file, the line and the column."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        return _csv_rows(path)
    file = str(path)
    doc = read_yaml(path, what="claims file")
    if isinstance(doc, Mapping) and "claims" in doc:
        doc = doc["claims"]
    if isinstance(doc, Mapping):  # name: {field: value}, or name: params
        rows = []
        for name, claims in doc.items():
            line, column = _position(doc, name)
            cells = _cells(claims) if isinstance(claims, Mapping) else [
                ("params", claims, line, column)]
            rows.append(_row([("name", name, line, column), *cells], file, line))
        return rows
    if not isinstance(doc, list) or not all(isinstance(row, Mapping) for row in doc):
        raise SpecError("expected a list of claims (mappings with 'name' and fields), or a "
                        "mapping of model name to its claimed fields", file=file)
    return [_row(_cells(row), file, getattr(row, "line", None)) for row in doc]


Cell = tuple[Any, Any, int | None, int | None]  # heading, value, line, column


def _position(mapping: Mapping[str, Any], key: Any) -> tuple[int | None, int | None]:
    """Where a YAML value stands (the registry's loader records it), else the mapping's line."""
    return getattr(mapping, "positions", {}).get(key, (getattr(mapping, "line", None), None))


def _cells(mapping: Mapping[str, Any]) -> list[Cell]:
    return [(key, value, *_position(mapping, key)) for key, value in mapping.items()]


def _csv_rows(path: Path) -> list[ClaimRow]:
    try:
        text = read_regular(path).decode("utf-8-sig")  # not a pipe, which would block
    except (OSError, UnicodeDecodeError, WeightsError) as err:
        raise SpecError(f"cannot read claims file: {err}", file=str(path)) from None
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.reader(io.StringIO(text), dialect=dialect)
    try:
        return _csv_claims(reader, str(path))
    except csv.Error as err:  # a field past csv's limit, a NUL byte
        raise SpecError(f"not a CSV file: {err}", file=str(path), line=reader.line_num) from None


def _csv_claims(reader: Any, file: str) -> list[ClaimRow]:
    header = next(reader, None)
    if not header:
        raise SpecError("empty claims file: expected a header row", file=file)
    rows = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            raise SpecError(f"{len(cells)} cells, but the header names {len(header)} columns "
                            f"({', '.join(header)}); column {len(header) + 1} has no heading",
                            file=file, line=reader.line_num)
        rows.append(_row([(heading, cell, reader.line_num, number)
                          for number, (heading, cell) in enumerate(zip(header, cells,
                                                                       strict=False), 1)],
                         file, reader.line_num))
    return rows


def _row(cells: list[Cell], file: str, line: int | None) -> ClaimRow:
    """(heading, value, line, column) cells -> a validated row."""
    name = None
    claims: dict[str, Claim] = {}
    for heading, value, at_line, column in cells:
        key = _canonical_column(heading, file, at_line, column)
        blank = value is None or (isinstance(value, str) and not value.strip())
        if key == "name" and not blank:
            name = str(value).strip()
        if key in ("name", None) or blank:
            continue
        if key in claims:
            raise SpecError(f"column {column} ({heading!r}) claims {key} a second time (first "
                            f"as {claims[key].heading!r})", file=file, line=at_line)
        claims[key] = Claim(key, str(heading), str(value).strip(),
                            _number(key, heading, value, file, at_line, column), at_line, column)
    if name is None:
        raise SpecError("a claim has no 'name' (or 'model') column", file=file, line=line)
    return ClaimRow(name, line, tuple(claims.values()))


def _canonical_column(heading: Any, file: str, line: int | None,
                      column: int | None) -> str | None:
    """'name' for the model's name, None for notes, zoo's field name for a claim."""
    key = str(heading).strip().lower().replace(" ", "_").replace("-", "_")
    if key in NAME_COLUMNS:
        return "name"
    if key in NOTE_COLUMNS:
        return None
    key = CLAIM_ALIASES.get(key, key)
    if key not in CLAIM_FIELDS:
        known = sorted({*CLAIM_FIELDS, *CLAIM_ALIASES})
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(f"{_at(column)}unknown claim column {heading!r}{hint}; zoo checks "
                        f"{', '.join(CLAIM_FIELDS)} (and reads {', '.join(NOTE_COLUMNS)} as "
                        f"notes)", file=file, line=line)
    return key


def _at(column: int | None) -> str:
    return f"column {column}: " if column is not None else ""


def _number(key: str, heading: Any, value: Any, file: str, line: int | None,
            column: int | None) -> int:
    try:
        return parse_count(value.strip() if isinstance(value, str) else value)
    except ValueError as err:
        raise SpecError(f"{_at(column)}claimed {heading} {describe(value)}: {err}; expected a "
                        f"count such as 1600, 1,542M, 1.5B or 1.17e8", file=file,
                        line=line) from None


def _agrees(field: str, claimed: int, actual: int, tolerance: float) -> bool:
    return _within(claimed, actual, tolerance) if field in TOLERATED else claimed == actual


def _family_named(name: str) -> str | None:
    """The family a name spells ("GPT-2" -> gpt2, "LLaMA" -> llama), ignoring case and
    punctuation; None if it spells none."""
    def key(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    return next((f for f in families() if key(f) == key(name)), None)


def resolve(row: ClaimRow, tolerance: float = DEFAULT_TOLERANCE) -> Resolution:
    """The model a row is about. A family's name is read as that family's member whose figures
    agree with the most of the row's claims: in the GPT-2 paper "GPT-2" is the largest model,
    on the hub `gpt2` the smallest, and only the row's figures can say which is meant. Where
    they single out no member, a family name that is also a registry name ("gpt2", "GPT-3")
    stands for that model, as it does everywhere else; otherwise the row is unresolved. Every
    family resolution lists the members it considered. A name that is no family is looked up
    in the registry."""
    try:
        named: ModelSpec | None = get_spec(row.name)
    except UnknownModelError as err:
        named, unknown = None, str(err)
    family = _family_named(row.name)
    if family is None:
        return Resolution(row.name, named, why="registry name" if named else unknown)
    members = [get_spec(name) for name in list_models(family=family)]
    fits = {m.name: sum(_agrees(c.field, c.value, CLAIM_FIELDS[c.field](m), tolerance)
                        for c in row.claims) for m in members}
    best = max(fits.values())
    winners = [m for m in members if fits[m.name] == best]
    considered = tuple(m.name for m in members)
    of = f"{best} of {len(row.claims)} claims"
    if best and len(winners) == 1:
        return Resolution(row.name, winners[0], family, considered,
                          f"the member of family {family} that agrees with {of}")
    why = (f"no member of family {family} agrees with any claim" if not best else
           f"{' and '.join(w.name for w in winners)} each agree with {of}")
    if named is not None and (not best or named in winners):
        return Resolution(row.name, named, family, considered,
                          f"{why}; {row.name!r} is the registry's name for {named.name}")
    return Resolution(row.name, None, family, considered,
                      f"{why}: add a distinguishing column, or write the model's own name")


def check_claims(path: str | Path, tolerance: float = DEFAULT_TOLERANCE) -> ClaimsReport:
    """Every claimed figure against the model its row resolves to: integers exactly, parameter
    counts within `tolerance`."""
    report = ClaimsReport(str(path))
    for row in read_claims(path):
        resolution = resolve(row, tolerance)
        spec = resolution.spec
        checks = []
        for claim in row.claims:
            if spec is None:
                checks.append(ClaimCheck(claim, None, "unresolved"))
                continue
            actual = CLAIM_FIELDS[claim.field](spec)
            verdict = "ok" if _agrees(claim.field, claim.value, actual, tolerance) else "WRONG"
            checks.append(ClaimCheck(claim, actual, verdict))
        report.rows.append(RowCheck(row, resolution, tuple(checks)))
    return report
