"""Declared settings: one way to say what a value may be, for every setting zoo takes.

A spec field, a generation option, a training setting and a command-line flag are the same
thing: a name with a kind, a default, a range and a meaning. Each is declared once, as a
dataclass field made by `setting`; `check` validates a mapping of them, `converters` turn
command-line text into them, and `add_arguments` builds the flags (names, defaults and help
all from the declaration), so nothing is stated twice and nothing drifts.

How a value is checked lives in one table, `KINDS` (kind -> converter). An error says what was
expected in the words of the place the value came from: a YAML spec file ("expected true or
false, got 'yes'"), a Python call ("do_sample must be True or False, got 'yes'") or a flag
("--top-k: expected a positive integer, got 'abc'").
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import math
import numbers
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, field, fields
from typing import Any

from zoo.units import parse_bytes, parse_count

DIALECTS = ("yaml", "python", "cli")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


def describe(value: Any) -> str:
    """A value as an error message shows it: at most 60 characters, however large it is."""
    text = _SHORT.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def suggest(key: str, valid: Iterable[str]) -> str:
    """' (did you mean 'n_head'?)' for the nearest valid name, else ''."""
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Invalid(ValueError):
    """A value that is not what its declaration says: what was expected, and what came (or,
    where a parser explains it better, its own `reason`: "the size '80' has no unit; did you
    mean '80GB'?")."""

    def __init__(self, expected: str, value: Any, reason: str | None = None) -> None:
        super().__init__(reason or f"expected {expected}, got {describe(value)}")
        self.expected, self.value, self.reason = expected, value, reason


class SettingError(ValueError):
    """A setting that cannot be taken: its (dotted) name and why. `reason` is the message
    without the name, for callers that say the name their own way (a spec's field)."""

    def __init__(self, name: str, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"{name}: {reason}")
        self.name, self.reason = name, reason


def setting(kind: str, default: Any = MISSING, *, doc: str = "", compare: bool = True,
            **meta: Any) -> Any:
    """A declared dataclass field. `kind` is a key of KINDS, with '?' when None is allowed;
    `meta` holds its range (min, max, min_exclusive, choices, and `why`, the reason for a
    bound, said after it), `expected` (what an error says was expected, in place of the kind's
    own words: "a probability, in [0, 1]"), its command-line spelling (`flag`, `cli=False` for
    none, `metavar`, `default_doc` for a default decided elsewhere) and whatever the declaring
    module adds (a spec field's role)."""
    return field(default=default, compare=compare, metadata={"kind": kind, "doc": doc, **meta})


def declared(cls: type) -> dict[str, Field[Any]]:
    """The declared fields of a dataclass, by name."""
    return {f.name: f for f in fields(cls) if "kind" in f.metadata}


# --- converters: one per kind ---------------------------------------------------------------

def _int_range(low: Any, high: Any, why: Any, dialect: str, value: int) -> str:
    if high is None:
        return "a positive integer" if low == 1 and dialect != "yaml" else f"an integer >= {low}"
    if dialect == "yaml":
        return f"an integer >= {low}" if value < low else \
            f"an integer <= {high:,}" + (f"; more is {why}" if why else "")
    return f"an integer within {low}..{high:,}" + (f" ({why})" if why else "")


def _int(value: Any, meta: Mapping[str, Any], dialect: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise Invalid("an integer", value)
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise Invalid(_int_range(low, high, meta.get("why"), dialect, int(value)), value)
    return int(value)


def _count(value: Any, meta: Mapping[str, Any], dialect: str) -> int:
    try:
        count = parse_count(value)
    except ValueError:
        raise Invalid("a parameter count such as 124439808, '117M' or '1.5B'", value) from None
    if count < meta.get("min", 0):
        raise Invalid(f"a count >= {meta['min']}", value)
    return count


def _bytes(value: Any, meta: Mapping[str, Any], dialect: str) -> int:
    try:
        return parse_bytes(value)
    except ValueError as err:
        raise Invalid("a size with its unit", value, str(err)) from None


def _float(value: Any, meta: Mapping[str, Any], dialect: str) -> float:
    strict = dialect == "python"  # a Python call passes numbers; a file or flag may say "1e-5"
    if isinstance(value, bool) or (strict and not isinstance(value, numbers.Real)):
        raise Invalid("a finite number", value)
    try:
        number = float(value) if isinstance(value, (numbers.Real, str)) else math.nan
    except (ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise Invalid("a finite number", value)
    low, high, exclusive = meta.get("min"), meta.get("max"), meta.get("min_exclusive")
    why = f" ({meta['why']})" if meta.get("why") else ""
    if low is not None and (number < low or (exclusive and number == low)):
        raise Invalid(f"a number {'>' if exclusive else '>='} {low}{why}", value)
    if high is not None and number > high:
        raise Invalid(f"a number <= {high}{why}", value)
    return number


def _bool(value: Any, meta: Mapping[str, Any], dialect: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid("True or False" if dialect == "python" else "true or false", value)
    return value


def _str(value: Any, meta: Mapping[str, Any], dialect: str) -> str:
    if not isinstance(value, str):
        raise Invalid("a string", value)
    return value


def _name(value: Any, meta: Mapping[str, Any], dialect: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise Invalid("a lowercase name of letters, digits, '.', '_' and '-'", value)
    return value


def _enum(value: Any, meta: Mapping[str, Any], dialect: str) -> Any:
    choices = meta["choices"]
    if not isinstance(value, str) or value not in choices:
        raise Invalid(f"one of {', '.join(map(str, choices))}", value)
    return value


def _listed(item: str, *, nonempty: bool = False, single: tuple[type, ...] = (str, bool),
            expected: str | None = None) -> Callable[[Any, Mapping[str, Any], str], Any]:
    """A list of `item`s (a tuple once checked); a lone value of a `single` type stands for a
    list of one. `expected` words the shape where the default ("a list") would not."""
    def convert(value: Any, meta: Mapping[str, Any], dialect: str) -> tuple[Any, ...]:
        lone = isinstance(value, single) and (bool in single or not isinstance(value, bool))
        if lone:
            value = [value]
        if not isinstance(value, (list, tuple)) or (nonempty and not value):
            raise Invalid(expected or ("a non-empty list" if nonempty else "a list"), value)
        return tuple(KINDS[item](v, meta, dialect) for v in value)
    return convert


def _early_stopping(value: Any, meta: Mapping[str, Any], dialect: str) -> bool | str:
    if isinstance(value, bool) or (isinstance(value, str) and value == "never"):
        return value
    raise Invalid("True, False or 'never'", value)


def _nested(value: Any, meta: Mapping[str, Any], dialect: str) -> Any:
    """A mapping of a declared dataclass's fields (`cls` in the declaration)."""
    if not isinstance(value, Mapping):
        raise Invalid("a mapping", value)
    return meta["cls"](**check(meta["cls"], value, dialect=dialect, prefix=meta["name"] + "."))


KINDS: dict[str, Callable[[Any, Mapping[str, Any], str], Any]] = {
    "int": _int, "count": _count, "bytes": _bytes, "float": _float, "bool": _bool, "str": _str,
    "name": _name, "enum": _enum, "nested": _nested, "early_stopping": _early_stopping,
    "str_list": _listed("str"), "name_list": _listed("name"),
    "enum_list": _listed("enum", nonempty=True), "bool_list": _listed("bool", nonempty=True),
    "float_list": _listed("float", nonempty=True, single=(numbers.Real,)),
    "int_list": _listed("int", nonempty=True, single=(numbers.Integral,)),
    "enum_set": _listed("enum"),  # an enum list that may be empty
    # generation: one token id or several, one stop string or several
    "token_ids": _listed("int", single=(numbers.Integral, str),
                         expected="one of token ids or a list of them"),
    "strings": _listed("str", single=(str,), expected="a string or a list of strings"),
}


def convert(name: str, value: Any, meta: Mapping[str, Any], dialect: str,
            written: str | None = None) -> Any:
    """One value checked against its declaration; SettingError(name) when it is wrong, which
    shows the value as `written` where it was read from text (a flag)."""
    kind = meta["kind"]
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    try:
        return KINDS[kind](value, {**meta, "name": name}, dialect)
    except Invalid as err:
        if err.reason:
            raise SettingError(name, err.reason) from None
        expected = meta.get("expected") or err.expected
        got = describe(err.value if written is None else written)
        reason = f"expected {expected}, got {got}"
        if dialect == "python":
            message = f"{name} must be {expected}, got {got}"
            raise SettingError(name, reason, message) from None
        raise SettingError(name, reason) from None


def check(cls: type, data: Mapping[str, Any], *, dialect: str, prefix: str = "",
          unknown: str = "unknown field") -> dict[str, Any]:
    """Every key of `data` converted into `cls`'s declared fields: an unknown, missing or
    ill-typed key raises SettingError naming it (dotted under `prefix`)."""
    known = declared(cls)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in known:
            raise SettingError(f"{prefix}{key}", f"{unknown}{suggest(str(key), known)}")
        out[key] = convert(f"{prefix}{key}", value, known[key].metadata, dialect)
    for name, f in known.items():
        if name not in out and f.default is MISSING:
            raise SettingError(f"{prefix}{name}", "required field is missing")
    return out


def default_text(f: Field[Any]) -> str:
    """A declared default as a reader writes it: '-' for none, 'true', '5e-05', 'a, b'."""
    default = f.default
    if default is MISSING:
        return "required"
    if default in (None, "", ()) or f.metadata["kind"].startswith("nested"):
        return "-"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, tuple):
        return ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in default)
    return str(default)


# --- the command line -------------------------------------------------------------------------

# what a flag's text is read as, before it is checked like any other value
PARSE: dict[str, Callable[[str], Any]] = {"int": int, "float": float}


class Converter:
    """argparse's `type=` for a declared setting: text -> checked value, and on bad text an
    error in the flag's terms ("argument --top-k: expected an integer, got 'abc'")."""

    def __init__(self, name: str, meta: Mapping[str, Any]) -> None:
        self.name, self.meta = name, meta
        self.__name__ = meta["kind"].rstrip("?")  # what argparse would call the type

    def __call__(self, text: str) -> Any:
        value: Any = text
        parse = PARSE.get(self.meta["kind"].rstrip("?"))
        if parse is not None:  # else checked as the text it is: "expected an integer, got 'abc'"
            with contextlib.suppress(ValueError):
                value = parse(text)
        try:
            return convert(self.name, value, self.meta, "cli", written=text)
        except SettingError as err:
            raise argparse.ArgumentTypeError(err.reason) from None


def flag_of(name: str, meta: Mapping[str, Any]) -> str:
    return meta.get("flag") or "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, names: Iterable[str] | None = None,
                  **overrides: Mapping[str, Any]) -> None:
    """The flags of `cls`'s declared fields (those named, else every one with a flag), each
    defaulting to None so that the declaration's own default applies downstream, its help the
    declaration's doc and default. `overrides[name]` changes a flag's declaration here
    (required=True, a CLI-specific help)."""
    known = declared(cls)
    for name in names if names is not None else [n for n, f in known.items()
                                                  if f.metadata.get("cli", True)]:
        f = known[name]
        meta = {**f.metadata, **overrides.get(name, {})}
        required = meta.get("required", False)
        default = "" if required else meta.get("default_doc") or default_text(f)
        help_text = meta["doc"] + ("" if required or default in ("-", "required")
                                   else f" (default: {default})")
        options: dict[str, Any] = {"dest": name, "help": help_text, "default": None}
        kind = meta["kind"].rstrip("?")
        if kind == "bool":
            options["action"] = argparse.BooleanOptionalAction if meta.get("negatable") \
                else "store_true"
        elif kind in ("strings", "str_list"):  # a repeatable flag, one string each time
            options.update(action="append", type=Converter(name, {**meta, "kind": "str"}))
        elif kind == "enum":  # argparse's own check: "invalid choice: 'x' (choose from ...)"
            options["choices"] = meta["choices"]
        else:
            options["type"] = Converter(name, meta)
        if meta.get("metavar"):
            options["metavar"] = meta["metavar"]
        if required:
            options["required"] = True
        parser.add_argument(flag_of(name, meta), **options)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The declared settings a command line gave (the rest keep their declared defaults)."""
    values = {name: getattr(args, name, None) for name in declared(cls)}
    return {name: value for name, value in values.items() if value is not None}


def converter(name: str, kind: str, **meta: Any) -> Converter:
    """argparse's `type=` for a flag that no dataclass declares (a count of devices)."""
    return Converter(name, {"kind": kind, "doc": "", **meta})
